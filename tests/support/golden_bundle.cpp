#include "golden_bundle.h"

#include <stdlib.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <system_error>
#include <vector>

#include <nlohmann/json.hpp>

#include "tavce/error.h"
#include "tavce/models/arch_configs.h"
#include "tavce/models/bundle.h"
#include "tavce/nn/expnet.h"
#include "tavce/nn/kp_detector.h"
#include "tavce/nn/mapping_net.h"
#include "tavce/nn/pose_vae.h"
#include "tavce/nn/recon_net.h"
#include "tavce/nn/spade_generator.h"
#include "tavce/nn/state_dict.h"
#include "tavce/nn/syncnet.h"
#include "tavce/models/bundle_weights.h"
#include "tavce/io/tensor_io.h"
#include "tavce/io/safetensors.h"

namespace tavce::testing {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

json read_case(const std::string& folder) {
  const fs::path path = fs::path(golden_dir()) / folder / "case.json";
  std::ifstream f(path);
  if (!f) throw Error("golden bundle: cannot read " + path.string());
  try {
    return json::parse(f);
  } catch (const json::exception& e) {
    throw Error("golden bundle: " + path.string() + " is not valid JSON: " + e.what());
  }
}

const json& case_config(const json& c, const std::string& folder) {
  if (!c.contains("config") || !c.at("config").is_object())
    throw Error("golden bundle: " + folder + "/case.json has no \"config\" object");
  return c.at("config");
}

// The config of the case `name` in case.json (cases[].config), for folders
// whose cases use different configs (mapping: coeff70_full_size, coeff73_reduced).
const json& named_case_config(const json& c, const std::string& folder, const std::string& name) {
  // c.at("cases"), not c.value(...): value() returns a copy, and the
  // reference returned here must point into c.
  if (c.contains("cases"))
    for (const json& k : c.at("cases"))
      if (k.value("name", "") == name && k.contains("config")) return k.at("config");
  throw Error("golden bundle: " + folder + "/case.json has no case '" + name + "' with a config");
}

std::string make_temp_dir(const char* prefix) {
  std::error_code ec;
  fs::path base = fs::temp_directory_path(ec);
  if (ec) base = "/tmp";
  std::string tmpl = (base / (std::string(prefix) + "-XXXXXX")).string();
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  if (!mkdtemp(buf.data())) throw Error("golden bundle: cannot create a temporary directory under " + base.string());
  return std::string(buf.data());
}

// Copies golden/<folder>/<file> to dir/<as> and records it for `module`.
void add_module_file(models::Bundle& b, const std::string& dir, const std::string& folder, const std::string& file,
                     const std::string& as, const std::string& module) {
  const fs::path src = fs::path(golden_dir()) / folder / file;
  if (!fs::is_regular_file(src)) throw Error("golden bundle: missing golden weights " + src.string());
  std::error_code ec;
  fs::copy_file(src, fs::path(dir) / as, fs::copy_options::overwrite_existing, ec);
  if (ec) throw Error("golden bundle: cannot copy " + src.string() + " to " + dir + ": " + ec.message());
  // The golden files are read-only; the copy must be removable with the directory.
  fs::permissions(fs::path(dir) / as, fs::perms::owner_read | fs::perms::owner_write, fs::perm_options::add, ec);
  b.files[as] = models::describe_file(dir, as, {module});
}

models::Bundle base_bundle(const std::string& name, const std::string& description) {
  models::Bundle b;
  b.name = name;
  b.description = description;
  b.coefficient_space = "bfm-exp64-pose6";
  b.fps = 25.0;
  b.licence = "test weights only: random networks with the reference architectures";
  b.provenance = {{"source", "shared/golden (random weights rounded to float16)"},
                  {"writer", "tests/support/golden_bundle.cpp"}};
  return b;
}

void add_recon(models::Bundle& b, const std::string& dir) {
  const json c = read_case("face3d_recon");
  b.architecture["recon"] = models::to_json(nn::ReconNetConfig::from_json(case_config(c, "face3d_recon")));
  add_module_file(b, dir, "face3d_recon", "weights.safetensors", "recon.safetensors", "recon");
}

// Writes and verifies the bundle; on failure the directory is removed.
std::string finish(const std::string& dir, const models::Bundle& b) {
  models::write_bundle(dir, b);
  models::verify_bundle(dir);
  return dir;
}

template <typename Fn>
std::string build(const char* prefix, Fn&& fill) {
  const std::string dir = make_temp_dir(prefix);
  try {
    return finish(dir, fill(dir));
  } catch (...) {
    remove_bundle_dir(dir);
    throw;
  }
}

}  // namespace

// golden_dir() is layout_check.cpp's ($TAVCE_GOLDEN_DIR, else ../shared/golden).

std::string make_golden_audio2coeff_bundle(bool with_recon) {
  return build("tavce-golden-a2c", [&](const std::string& dir) {
    models::Bundle b = base_bundle("golden-audio2coeff", "ExpNet + PoseVAE with the golden test weights");
    const json exp_case = read_case("audio2exp");
    b.architecture["expnet"] = models::to_json(nn::ExpNetConfig::from_json(case_config(exp_case, "audio2exp")));
    add_module_file(b, dir, "audio2exp", "weights.safetensors", "expnet.safetensors", "expnet");

    const json pose_case = read_case("audio2pose");
    nn::PoseVAEConfig pose = nn::PoseVAEConfig::from_json(case_config(pose_case, "audio2pose"));
    pose.training_parts = false;  // the golden file holds the inference keys only
    b.architecture["pose_vae"] = models::to_json(pose);
    add_module_file(b, dir, "audio2pose", "weights.safetensors", "pose_vae.safetensors", "pose_vae");

    if (with_recon) add_recon(b, dir);
    return b;
  });
}

std::string make_golden_renderer_bundle(bool with_recon) {
  return build("tavce-golden-render", [&](const std::string& dir) {
    models::Bundle b = base_bundle("golden-renderer", "MappingNet + KPDetector + generator with the golden test weights");
    const json map_case = read_case("mapping");
    b.architecture["mapping"] =
        models::to_json(nn::MappingNetConfig::from_json(named_case_config(map_case, "mapping", "coeff70_full_size")));
    add_module_file(b, dir, "mapping", "weights.safetensors", "mapping.safetensors", "mapping");
    b.architecture["mapping_full"] =
        models::to_json(nn::MappingNetConfig::from_json(named_case_config(map_case, "mapping", "coeff73_reduced")));
    add_module_file(b, dir, "mapping", "weights_c73.safetensors", "mapping_full.safetensors", "mapping_full");

    const json kp_case = read_case("kp_detector");
    b.architecture["kp_detector"] =
        models::to_json(nn::KPDetectorConfig::from_json(case_config(kp_case, "kp_detector")));
    add_module_file(b, dir, "kp_detector", "weights.safetensors", "kp_detector.safetensors", "kp_detector");

    const json gen_case = read_case("generator");
    b.architecture["generator"] =
        models::to_json(nn::SpadeGeneratorConfig::from_json(case_config(gen_case, "generator")));
    b.architecture["generator"]["image_size"] = 128;  // the reduced golden renderer works at 128x128
    // The golden file stores spectral norm as the official checkpoints do
    // (weight_orig/_u/_v); bundles hold folded plain weights (docs/models.md),
    // as tavce-convert writes them.
    const fs::path gen_src = fs::path(golden_dir()) / "generator" / "weights.safetensors";
    models::save_tensors((fs::path(dir) / "generator.safetensors").string(),
                         nn::fold_spectral_norm(io::load_tensors(io::SafeTensors::open(gen_src.string()), true)));
    b.files["generator.safetensors"] = models::describe_file(dir, "generator.safetensors", {"generator"});

    if (with_recon) add_recon(b, dir);
    return b;
  });
}

std::string make_golden_syncnet_bundle() {
  return build("tavce-golden-syncnet", [&](const std::string& dir) {
    models::Bundle b = base_bundle("golden-syncnet", "SyncNet (syncnet_v2 layout) with the golden test weights");
    const json c = read_case("syncnet");
    // SyncNetConfig::from_json reads num_layers_in_fc_layers (arch_configs has
    // no to_json for it): the bundle stores that one key.
    const nn::SyncNetConfig cfg = nn::SyncNetConfig::from_json(case_config(c, "syncnet"));
    b.architecture["syncnet"] = json{{"num_layers_in_fc_layers", cfg.num_layers_in_fc_layers}};
    add_module_file(b, dir, "syncnet", "weights.safetensors", "syncnet.safetensors", "syncnet");
    return b;
  });
}

void remove_bundle_dir(const std::string& dir) {
  if (dir.empty()) return;
  std::error_code ec;
  fs::remove_all(dir, ec);
}

}  // namespace tavce::testing
