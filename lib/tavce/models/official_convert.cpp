#include "tavce/models/official_convert.h"

#include <algorithm>
#include <filesystem>
#include <functional>
#include <memory>

#include <ATen/Functions.h>
#include <torch/nn/module.h>

#include "tavce/error.h"
#include "tavce/nn/syncnet.h"
#include "tavce/models/arch_configs.h"
#include "tavce/models/bundle_weights.h"
#include "tavce/nn/correlation.h"
#include "tavce/nn/expnet.h"
#include "tavce/nn/kp_detector.h"
#include "tavce/nn/mapping_net.h"
#include "tavce/nn/pose_vae.h"
#include "tavce/nn/recon_net.h"
#include "tavce/nn/spade_generator.h"
#include "tavce/nn/state_dict.h"
#include "tavce/util/utc_time.h"

namespace tavce::models {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr const char* kConverterVersion = "tavce-convert 1";

// A bundle module: its config as stored in model.json and a full-size instance.
struct BuiltModule {
  json config;
  std::shared_ptr<torch::nn::Module> module;
};

BuiltModule build_module(const std::string& name, Variant variant) {
  if (name == "kp_detector") {
    nn::KPDetectorConfig c;
    return {to_json(c), nn::KPDetector(c).ptr()};
  }
  if (name == "generator") {
    // TAVCE's generator is SadTalker's plus the CERL fusion layers.
    const auto c = variant == Variant::Tavce ? nn::SpadeGeneratorConfig::tavce() : nn::SpadeGeneratorConfig::sadtalker();
    return {to_json(c), nn::OcclusionAwareSpadeGenerator(c).ptr()};
  }
  if (name == "expnet") {
    nn::ExpNetConfig c;
    return {to_json(c), nn::ExpNet(c).ptr()};
  }
  if (name == "pose_vae") {
    nn::PoseVAEConfig c;
    // TAVCE's audio2pose checkpoint has no netD_motion; its netG.encoder is
    // dropped in convert_official, so the bundle holds the inference parts.
    c.training_parts = variant == Variant::SadTalker;
    return {to_json(c), nn::PoseVAE(c).ptr()};
  }
  if (name == "mapping" || name == "mapping_full") {
    nn::MappingNetConfig c;
    c.coeff_nc = name == "mapping" ? 70 : 73;  // 00229 / TAVCE: 70, 00109 (full): 73
    return {to_json(c), nn::MappingNet(c).ptr()};
  }
  if (name == "recon") {
    nn::ReconNetConfig c;
    return {to_json(c), nn::ReconNet(c).ptr()};
  }
  if (name == "correlation_audio") {
    nn::CorrelationAudioEncoderConfig c;
    return {to_json(c), nn::CorrelationAudioEncoder(c).ptr()};
  }
  if (name == "syncnet") {
    nn::SyncNetConfig c;  // syncnet_v2's sizes
    return {to_json(c), nn::SyncNet(c).ptr()};
  }
  throw Error("converter: no network for module '" + name + "'");
}

// Files saved before torch 0.4.1 (syncnet_v2.model is from 2017) have no
// BatchNorm `num_batches_tracked`; torch's loader sets the missing counters to
// 0, and so does this (only where the layer's running_mean is present).
nn::TensorMap with_batchnorm_counters(nn::TensorMap tensors, const torch::nn::Module& module) {
  const std::string suffix = ".num_batches_tracked";
  for (const auto& [key, value] : nn::state_dict(module)) {
    if (key.size() <= suffix.size() || key.compare(key.size() - suffix.size(), suffix.size(), suffix) != 0) continue;
    const std::string layer = key.substr(0, key.size() - suffix.size());
    if (!tensors.count(key) && tensors.count(layer + ".running_mean")) tensors.emplace(key, at::zeros({}, at::kLong));
  }
  return tensors;
}

}  // namespace

Bundle convert_official(const ConvertOptions& options, std::ostream& log) {
  const Variant variant = options.variant.empty() ? detect_variant(options.in_dir) : parse_variant(options.variant);
  if (variant == Variant::Tavce && !options.layout.empty())
    throw Error("--layout chooses among the SadTalker layouts; it does not apply to --variant tavce");
  const SadTalkerLayout layout =
      options.layout.empty() ? detect_sadtalker_layout(options.in_dir) : parse_sadtalker_layout(options.layout);
  const fs::path out_dir(options.out_dir);
  if (fs::exists(out_dir / kBundleManifestName))
    throw Error("'" + options.out_dir + "' already holds a model bundle; choose a new directory");

  OfficialSources sources = read_official_sources(options.in_dir, variant, layout, log);
  const std::string what = variant == Variant::Tavce
                               ? std::string("tavce")
                               : std::string("sadtalker (") + layout_name(layout) + " layout)";
  if (!sources.missing.empty()) {
    if (!options.partial) {
      std::string list;
      for (const auto& m : sources.missing) list += (list.empty() ? "" : "; ") + m.module + ": " + m.reason;
      throw Error("official " + what + " files in '" + options.in_dir + "' lack " +
                  std::to_string(sources.missing.size()) + " module(s): " + list + " (pass --partial to convert the rest)");
    }
    for (const auto& m : sources.missing) log_line(log, "not converted " + m.module + ": " + m.reason);
  }

  fs::create_directories(out_dir);
  Bundle bundle;
  bundle.name = options.name.empty() ? out_dir.filename().string() : options.name;
  if (bundle.name.empty()) bundle.name = fs::absolute(out_dir).parent_path().filename().string();
  bundle.family = variant == Variant::Tavce ? "tavce" : "sadtalker";
  bundle.description = std::string("Official ") + (variant == Variant::Tavce ? "TAVCE" : "SadTalker") +
                       " weights converted by tavce-convert" +
                       (variant == Variant::SadTalker ? std::string(" (") + layout_name(layout) + " layout)" : "");
  bundle.licence = variant == Variant::Tavce
                       ? "as the TAVCE release (see its repository); SadTalker parts: Apache-2.0"
                       : "Apache-2.0 (SadTalker repository licence; check the release page before redistributing)";

  json module_sources = json::object();
  for (SourceModule& src : sources.modules) {
    BuiltModule built = build_module(src.module, variant);
    // The networks are fully convolutional: the 512 renderer has the 256
    // one's keys and shapes, and only the image size it works at differs.
    if (src.module == "generator") built.config["image_size"] = sources.image_size;
    nn::TensorMap tensors = with_batchnorm_counters(nn::fold_spectral_norm(src.tensors), *built.module);
    if (src.module == "pose_vae" && variant == Variant::Tavce) {
      // netG.encoder only serves training (the CVAE's posterior); TAVCE releases no pose training loop.
      for (auto it = tensors.begin(); it != tensors.end();)
        it = it->first.rfind("netG.encoder.", 0) == 0 ? tensors.erase(it) : std::next(it);
    }
    nn::load_state_dict(*built.module, tensors, src.source);
    tensors.clear();
    src.tensors.clear();  // the input copy is no longer needed: keep the peak memory to about one model

    const std::string file = src.module + ".safetensors";
    save_tensors((out_dir / file).string(), nn::state_dict(*built.module),
                 {{"format", "pt"}, {"module", src.module}, {"source", src.source}});
    bundle.architecture[src.module] = built.config;
    bundle.files[file] = describe_file(options.out_dir, file, {src.module});
    module_sources[src.module] = src.source;
    log_line(log, "converted " + src.module + " from " + src.source + " -> " + file);
  }

  json inputs = json::array();
  for (const auto& in : sources.inputs) inputs.push_back({{"file", in.name}, {"bytes", in.bytes}, {"sha256", in.sha256}});
  json skipped = json::array();
  for (const auto& k : sources.skipped) skipped.push_back({{"what", k.what}, {"reason", k.reason}});
  json not_converted = json::array();
  for (const auto& m : sources.missing) not_converted.push_back({{"module", m.module}, {"reason", m.reason}});
  bundle.provenance = {{"converter", kConverterVersion},
                       {"date", util::utc_now()},
                       {"variant", variant_name(variant)},
                       {"skipped", skipped},
                       {"not_converted", not_converted},
                       {"inputs", inputs},
                       {"module_sources", module_sources},
                       {"spectral_norm", "folded: weight = weight_orig / sigma, as torch computes it in eval mode"},
                       {"dtype", "float32 (floating tensors of the inputs upcast)"}};
  if (variant == Variant::SadTalker) bundle.provenance["layout"] = layout_name(layout);
  if (variant == Variant::Tavce)
    bundle.provenance["dropped"] = "audio2pose netG.encoder.* (training only); facerender he_estimator (unused at inference)";
  write_bundle(options.out_dir, bundle);
  return verify_bundle(options.out_dir);
}

}  // namespace tavce::models
