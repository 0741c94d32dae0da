#include "tavce/models/official_sources.h"

#include <filesystem>
#include <set>

#include "tavce/error.h"
#include "tavce/io/checkpoint.h"
#include "tavce/io/safetensors.h"
#include "tavce/io/tensor_io.h"
#include "tavce/util/sha256.h"

namespace tavce::models {
namespace fs = std::filesystem;

namespace {

constexpr const char* kSadTalkerFile = "SadTalker_V0.0.2_256.safetensors";
constexpr const char* kSyncNetFile = "syncnet_v2.model";

// Prefixes of the SadTalker wrapper's flat state dict -> bundle module names.
struct PrefixModule {
  const char* prefix;
  const char* module;
};
constexpr PrefixModule kSadTalkerPrefixes[] = {{"kp_extractor.", "kp_detector"},
                                               {"generator.", "generator"},
                                               {"audio2exp.", "expnet"},
                                               {"audio2pose.", "pose_vae"},
                                               {"face_3drecon.", "recon"}};

InputFile note_input(const fs::path& in_dir, const std::string& name, std::ostream& log) {
  const fs::path path = in_dir / name;
  InputFile f;
  f.name = name;
  f.bytes = fs::file_size(path);
  log << "input " << name << ": " << f.bytes << " bytes, sha256 " << std::flush;
  f.sha256 = util::sha256_file(path.string());
  log << f.sha256 << "\n";
  return f;
}

nn::TensorMap with_prefix(const nn::TensorMap& tensors, const std::string& prefix) {
  nn::TensorMap out;
  for (const auto& [k, v] : tensors) out.emplace(prefix + k, v);
  return out;
}

// The SadTalker safetensors, split by prefix. `wanted` limits the modules
// kept (TAVCE uses only face_3drecon from it).
void read_sadtalker_safetensors(const fs::path& in_dir, const std::set<std::string>& wanted,
                                OfficialSources& out, std::ostream& log) {
  if (!fs::exists(in_dir / kSadTalkerFile)) {
    for (const auto& p : kSadTalkerPrefixes)
      if (wanted.count(p.module)) out.missing.push_back(p.module);
    return;
  }
  out.inputs.push_back(note_input(in_dir, kSadTalkerFile, log));
  const auto file = io::SafeTensors::open((in_dir / kSadTalkerFile).string());
  const nn::TensorMap all = io::load_tensors(file, /*float_to_f32=*/true);
  std::vector<std::string> unknown;
  for (const auto& [key, t] : all) {
    bool known = false;
    for (const auto& p : kSadTalkerPrefixes) known = known || key.rfind(p.prefix, 0) == 0;
    if (!known) unknown.push_back(key);
  }
  if (!unknown.empty()) {
    std::string list;
    for (size_t i = 0; i < unknown.size() && i < 10; ++i) list += (i ? ", " : "") + unknown[i];
    throw Error(std::string(kSadTalkerFile) + ": " + std::to_string(unknown.size()) +
                " keys outside the prefixes kp_extractor./generator./audio2exp./audio2pose./face_3drecon. (" +
                list + (unknown.size() > 10 ? ", ..." : "") + "): not the official file?");
  }
  for (const auto& p : kSadTalkerPrefixes) {
    if (!wanted.count(p.module)) continue;
    nn::TensorMap part = nn::select_prefix(all, p.prefix);
    if (part.empty()) {
      out.missing.push_back(p.module);
      log << "warning: " << kSadTalkerFile << " has no '" << p.prefix << "' keys\n";
      continue;
    }
    out.modules.push_back({p.module, std::string(kSadTalkerFile) + " [" + p.prefix + "]", std::move(part)});
  }
}

// dict entry `key` of a torch checkpoint, "module." stripped (DataParallel).
void read_checkpoint_entry(const fs::path& in_dir, const std::string& name, const std::string& key,
                           const std::string& module, OfficialSources& out, std::ostream& log,
                           const std::string& key_prefix = "") {
  if (!fs::exists(in_dir / name)) {
    out.missing.push_back(module);
    return;
  }
  bool seen = false;
  for (const auto& in : out.inputs) seen = seen || in.name == name;
  if (!seen) out.inputs.push_back(note_input(in_dir, name, log));
  nn::TensorMap t = io::load_torch_state_dict((in_dir / name).string(), key, /*strip_module_prefix=*/true);
  const std::string source = key.empty() ? name : name + " ['" + key + "']";
  for (auto& m : out.modules) {  // a second entry of the same module (TAVCE audio2pose)
    if (m.module != module) continue;
    for (auto& [k, v] : with_prefix(t, key_prefix)) m.tensors.emplace(k, v);
    m.source += " + " + source;
    return;
  }
  out.modules.push_back({module, source, with_prefix(t, key_prefix)});
}

}  // namespace

Variant parse_variant(const std::string& text) {
  if (text == "sadtalker") return Variant::SadTalker;
  if (text == "tavce") return Variant::Tavce;
  throw Error("unknown variant '" + text + "' (expected sadtalker or tavce)");
}

const char* variant_name(Variant v) { return v == Variant::Tavce ? "tavce" : "sadtalker"; }

Variant detect_variant(const std::string& in_dir) {
  return fs::exists(fs::path(in_dir) / "exp/facerender/latest.pth") ? Variant::Tavce : Variant::SadTalker;
}

OfficialSources read_official_sources(const std::string& in_dir_text, Variant variant, std::ostream& log) {
  const fs::path in_dir(in_dir_text);
  if (!fs::is_directory(in_dir)) throw Error("input '" + in_dir_text + "' is not a directory");
  OfficialSources out;
  out.variant = variant;
  if (variant == Variant::SadTalker) {
    read_sadtalker_safetensors(in_dir, {"kp_detector", "generator", "expnet", "pose_vae", "recon"}, out, log);
    read_checkpoint_entry(in_dir, "mapping_00229-model.pth.tar", "mapping", "mapping", out, log);
    read_checkpoint_entry(in_dir, "mapping_00109-model.pth.tar", "mapping", "mapping_full", out, log);
  } else {
    // TAVCE's own checkpoints as its inference.py expects them under the
    // repository; face_3drecon still comes from SadTalker's file.
    read_checkpoint_entry(in_dir, "exp/facerender/latest.pth", "mapping", "mapping", out, log);
    read_checkpoint_entry(in_dir, "exp/facerender/latest.pth", "generator", "generator", out, log);
    read_checkpoint_entry(in_dir, "exp/facerender/latest.pth", "kp_detector", "kp_detector", out, log);
    read_checkpoint_entry(in_dir, "exp/audio2exp/latest.pth", "netG", "expnet", out, log);
    read_checkpoint_entry(in_dir, "exp/audio2pose/latest.pth", "netG", "pose_vae", out, log, "netG.");
    read_checkpoint_entry(in_dir, "exp/audio2pose/latest.pth", "audio_encoder", "pose_vae", out, log,
                          "audio_encoder.");
    read_checkpoint_entry(in_dir, "exp/correlation/last.pth", "audio_encoder", "correlation_audio", out, log);
    read_sadtalker_safetensors(in_dir, {"recon"}, out, log);
  }
  // syncnet_python's syncnet_v2.model (the LSE-D / LSE-C metric's network) is
  // not part of either release: converted when present, never missing. A
  // directory holding only it makes a SyncNet-only bundle for tavcesyncscore.
  if (fs::exists(in_dir / kSyncNetFile)) {
    const bool alone = out.modules.empty();
    read_checkpoint_entry(in_dir, kSyncNetFile, "", "syncnet", out, log);
    if (alone) out.missing.clear();
  }
  if (out.modules.empty())
    throw Error("no official " + std::string(variant_name(variant)) + " checkpoint found in '" + in_dir_text +
                "' (see models/official-manifest.json for the file names)");
  return out;
}

}  // namespace tavce::models
