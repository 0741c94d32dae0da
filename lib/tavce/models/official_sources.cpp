#include "tavce/models/official_sources.h"

#include <algorithm>
#include <filesystem>
#include <set>

#include "tavce/error.h"
#include "tavce/io/checkpoint.h"
#include "tavce/io/safetensors.h"
#include "tavce/io/tensor_io.h"
#include "tavce/io/torch_checkpoint.h"
#include "tavce/util/sha256.h"

namespace tavce::models {
namespace fs = std::filesystem;

namespace {

constexpr const char* kSafetensors256 = "SadTalker_V0.0.2_256.safetensors";
constexpr const char* kSafetensors512 = "SadTalker_V0.0.2_512.safetensors";
constexpr const char* kMapping = "mapping_00229-model.pth.tar";
constexpr const char* kMappingFull = "mapping_00109-model.pth.tar";
// The per-module set of the v0.0.2 release ("auido" is the release's spelling).
constexpr const char* kAudio2Exp = "auido2exp_00300-model.pth";
constexpr const char* kAudio2Pose = "auido2pose_00140-model.pth";
constexpr const char* kFaceVid2Vid = "facevid2vid_00189-model.pth.tar";
constexpr const char* kFaceRecon = "epoch_20.pth";
constexpr const char* kPerModuleFiles[] = {kAudio2Exp, kAudio2Pose, kFaceVid2Vid, kFaceRecon};
constexpr const char* kSyncNetFile = "syncnet_v2.model";

// Prefixes of the SadTalker wrapper's flat state dict -> bundle module names.
// Both safetensors files were written by the same wrapper
// ([ST] src/utils/model2safetensor.py, run once per size), so they share them.
struct PrefixModule {
  const char* prefix;
  const char* module;
};
constexpr PrefixModule kSadTalkerPrefixes[] = {{"kp_extractor.", "kp_detector"},
                                               {"generator.", "generator"},
                                               {"audio2exp.", "expnet"},
                                               {"audio2pose.", "pose_vae"},
                                               {"face_3drecon.", "recon"}};

const char* safetensors_file(SadTalkerLayout layout) {
  return layout == SadTalkerLayout::Safetensors512 ? kSafetensors512 : kSafetensors256;
}

// The files of in_dir's top level that a variant / layout reads.
std::vector<std::string> files_read(Variant variant, SadTalkerLayout layout) {
  std::vector<std::string> out = {kSyncNetFile};
  if (variant == Variant::Tavce) return out;  // + the face_3drecon source, added by the caller
  out.push_back(kMapping);
  out.push_back(kMappingFull);
  if (layout == SadTalkerLayout::PerModule) out.insert(out.end(), std::begin(kPerModuleFiles), std::end(kPerModuleFiles));
  else out.push_back(safetensors_file(layout));
  return out;
}

// Why a top-level file of in_dir is not read.
std::string unread_file_reason(const std::string& name, Variant variant) {
  if (variant == Variant::SadTalker) {
    if (name == kSafetensors256) return "part of the 256 layout (convert it with --layout 256)";
    if (name == kSafetensors512) return "part of the 512 layout (convert it with --layout 512)";
    for (const char* f : kPerModuleFiles)
      if (name == f) return "part of the per-module layout (convert it with --layout per-module)";
  } else {
    if (name == kMapping || name == kMappingFull || name == kSafetensors256 || name == kSafetensors512)
      return "a SadTalker file; --variant tavce takes the mapping and renderer from exp/facerender/latest.pth";
    for (const char* f : kPerModuleFiles)
      if (name == f) return "a SadTalker file; --variant tavce reads TAVCE's own checkpoints under exp/";
  }
  if (name == "wav2lip.pth")
    return "wav2lip's weights only initialise the audio encoders, which the release weights then overwrite";
  if (name == "shape_predictor_68_face_landmarks.dat")
    return "dlib's landmark model, not a network of the bundle (source preparation uses the system's copy)";
  if (name == "hub.zip" || name == "BFM_Fitting.zip") return "face-alignment / 3DMM fitting data, not a network of the bundle";
  return "not an official file tavce-convert reads";
}

// Why a top-level entry of a checkpoint dict is not converted.
std::string unread_entry_reason(const std::string& key) {
  if (key == "he_estimator") return "the head-pose estimator; inference takes the pose from the coefficients and never runs it";
  if (key == "discriminator") return "a discriminator (training only)";
  if (key.rfind("optimizer", 0) == 0) return "optimiser state (training only)";
  if (key == "epoch") return "the training epoch";
  if (key == "image_encoder" || key == "generator1" || key == "generator2")
    return "trains the correlation audio encoder; not used at inference";
  return "not a network the bundle holds";
}

void note_skipped(OfficialSources& out, std::ostream& log, const std::string& what, const std::string& reason) {
  out.skipped.push_back({what, reason});
  log_line(log, "skipped " + what + ": " + reason);
}

void note_missing(OfficialSources& out, const std::string& module, const std::string& reason) {
  for (const auto& m : out.missing)
    if (m.module == module) return;  // the second entry of the same module (TAVCE audio2pose)
  out.missing.push_back({module, reason});
}

void note_input(const fs::path& in_dir, const std::string& name, OfficialSources& out, std::ostream& log) {
  for (const auto& in : out.inputs)
    if (in.name == name) return;
  const fs::path path = in_dir / name;
  InputFile f;
  f.name = name;
  f.bytes = fs::file_size(path);
  // Digest first, then the whole line: hashing a 2 GB file takes seconds and
  // may fail, and a half-written line would then hold the error message.
  f.sha256 = util::sha256_file(path.string());
  log_line(log, "input " + name + ": " + std::to_string(f.bytes) + " bytes, sha256 " + f.sha256);
  out.inputs.push_back(std::move(f));
}

nn::TensorMap with_prefix(const nn::TensorMap& tensors, const std::string& prefix) {
  nn::TensorMap out;
  for (const auto& [k, v] : tensors) out.emplace(prefix + k, v);
  return out;
}

void add_module(OfficialSources& out, const std::string& module, const std::string& source, nn::TensorMap tensors) {
  for (auto& m : out.modules) {  // a second entry of the same module (TAVCE audio2pose)
    if (m.module != module) continue;
    for (auto& [k, v] : tensors) m.tensors.emplace(k, v);
    m.source += " + " + source;
    return;
  }
  out.modules.push_back({module, source, std::move(tensors)});
}

// A SadTalker safetensors file, split by prefix. `wanted` limits the modules
// kept (TAVCE uses only face_3drecon from it); the others are reported as
// skipped with unwanted_reason.
void read_sadtalker_safetensors(const fs::path& in_dir, const std::string& name, const std::set<std::string>& wanted,
                                const std::string& unwanted_reason, OfficialSources& out, std::ostream& log) {
  if (!fs::exists(in_dir / name)) {
    for (const auto& p : kSadTalkerPrefixes)
      if (wanted.count(p.module)) note_missing(out, p.module, name + " not found");
    return;
  }
  note_input(in_dir, name, out, log);
  const auto file = io::SafeTensors::open((in_dir / name).string());
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
    throw Error(name + ": " + std::to_string(unknown.size()) +
                " keys outside the prefixes kp_extractor./generator./audio2exp./audio2pose./face_3drecon. (" + list +
                (unknown.size() > 10 ? ", ..." : "") + "): not the official file?");
  }
  for (const auto& p : kSadTalkerPrefixes) {
    if (!wanted.count(p.module)) {
      note_skipped(out, log, name + " [" + p.prefix + "]", unwanted_reason);
      continue;
    }
    nn::TensorMap part = nn::select_prefix(all, p.prefix);
    if (part.empty()) {
      note_missing(out, p.module, name + " has no '" + p.prefix + "' keys");
      continue;
    }
    add_module(out, p.module, name + " [" + p.prefix + "]", std::move(part));
  }
}

// One state dict to take out of a torch checkpoint: root[key] ("" = the root
// itself) -> module, its keys prefixed with key_prefix.
struct EntrySpec {
  std::string key;
  std::string module;
  std::string key_prefix;
};

// The entries of a torch checkpoint, "module." stripped (DataParallel). Every
// other top-level entry (optimisers, discriminators, ...) is reported as
// skipped.
void read_checkpoint(const fs::path& in_dir, const std::string& name, const std::vector<EntrySpec>& entries,
                     OfficialSources& out, std::ostream& log) {
  const fs::path path = in_dir / name;
  if (!fs::exists(path)) {
    for (const auto& e : entries) note_missing(out, e.module, name + " not found");
    return;
  }
  note_input(in_dir, name, out, log);
  std::set<std::string> taken;
  for (const auto& e : entries) {
    nn::TensorMap t = io::load_torch_state_dict(path.string(), e.key, /*strip_module_prefix=*/true);
    add_module(out, e.module, e.key.empty() ? name : name + " ['" + e.key + "']", with_prefix(t, e.key_prefix));
    taken.insert(e.key);
  }
  if (taken.count("")) return;  // the root is the state dict: there is nothing else
  for (const auto& key : io::TorchCheckpoint::open(path.string()).top_level_keys())
    if (!taken.count(key)) note_skipped(out, log, name + " ['" + key + "']", unread_entry_reason(key));
}

// Regular files of in_dir's top level that are not read, each with the reason.
void note_unread_files(const fs::path& in_dir, const std::vector<std::string>& read, Variant variant,
                       OfficialSources& out, std::ostream& log) {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(in_dir)) {
    const std::string name = entry.path().filename().string();
    if (!entry.is_regular_file() || name.empty() || name[0] == '.') continue;
    if (std::find(read.begin(), read.end(), name) == read.end()) names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  for (const auto& name : names) note_skipped(out, log, name, unread_file_reason(name, variant));
}

}  // namespace

void log_line(std::ostream& log, const std::string& text) {
  const std::string line = text + "\n";
  log.write(line.data(), static_cast<std::streamsize>(line.size()));
  log.flush();
}

Variant parse_variant(const std::string& text) {
  if (text == "sadtalker") return Variant::SadTalker;
  if (text == "tavce") return Variant::Tavce;
  throw Error("unknown variant '" + text + "' (expected sadtalker or tavce)");
}

const char* variant_name(Variant v) { return v == Variant::Tavce ? "tavce" : "sadtalker"; }

Variant detect_variant(const std::string& in_dir) {
  return fs::exists(fs::path(in_dir) / "exp/facerender/latest.pth") ? Variant::Tavce : Variant::SadTalker;
}

SadTalkerLayout parse_sadtalker_layout(const std::string& text) {
  if (text == "256") return SadTalkerLayout::Safetensors256;
  if (text == "512") return SadTalkerLayout::Safetensors512;
  if (text == "per-module") return SadTalkerLayout::PerModule;
  throw Error("unknown layout '" + text + "' (expected 256, 512 or per-module)");
}

const char* layout_name(SadTalkerLayout layout) {
  switch (layout) {
    case SadTalkerLayout::Safetensors256: return "256";
    case SadTalkerLayout::Safetensors512: return "512";
    case SadTalkerLayout::PerModule: return "per-module";
  }
  return "?";
}

SadTalkerLayout detect_sadtalker_layout(const std::string& in_dir_text) {
  const fs::path in_dir(in_dir_text);
  if (fs::exists(in_dir / kSafetensors256)) return SadTalkerLayout::Safetensors256;
  if (fs::exists(in_dir / kSafetensors512)) return SadTalkerLayout::Safetensors512;
  for (const char* f : kPerModuleFiles)
    if (fs::exists(in_dir / f)) return SadTalkerLayout::PerModule;
  return SadTalkerLayout::Safetensors256;
}

OfficialSources read_official_sources(const std::string& in_dir_text, Variant variant, SadTalkerLayout layout,
                                      std::ostream& log) {
  const fs::path in_dir(in_dir_text);
  if (!fs::is_directory(in_dir)) throw Error("input '" + in_dir_text + "' is not a directory");
  OfficialSources out;
  out.variant = variant;
  out.layout = layout;
  std::vector<std::string> read = files_read(variant, layout);
  if (variant == Variant::SadTalker) {
    if (layout == SadTalkerLayout::PerModule) {
      log_line(log, "layout: per-module (" + std::string(kAudio2Exp) + ", " + kAudio2Pose + ", " + kFaceVid2Vid + ", " +
                        kFaceRecon + ", mapping files)");
    } else {
      out.image_size = layout == SadTalkerLayout::Safetensors512 ? 512 : 256;
      log_line(log, std::string("layout: ") + layout_name(layout) + " (" + safetensors_file(layout) +
                        ", mapping files; renderer at " + std::to_string(out.image_size) + "x" +
                        std::to_string(out.image_size) + ")");
    }
    note_unread_files(in_dir, read, variant, out, log);
    if (layout == SadTalkerLayout::PerModule) {
      // [ST] src/test_audio2coeff.py, src/facerender/animate.py and
      // src/utils/preprocess.py with --old_version: the dict entries below,
      // each loaded strictly into the same networks as the safetensors prefixes.
      read_checkpoint(in_dir, kAudio2Exp, {{"model", "expnet", ""}}, out, log);
      read_checkpoint(in_dir, kAudio2Pose, {{"model", "pose_vae", ""}}, out, log);
      read_checkpoint(in_dir, kFaceVid2Vid, {{"generator", "generator", ""}, {"kp_detector", "kp_detector", ""}}, out,
                      log);
      read_checkpoint(in_dir, kFaceRecon, {{"net_recon", "recon", ""}}, out, log);
    } else {
      read_sadtalker_safetensors(in_dir, safetensors_file(layout),
                                 {"kp_detector", "generator", "expnet", "pose_vae", "recon"}, "", out, log);
    }
    read_checkpoint(in_dir, kMapping, {{"mapping", "mapping", ""}}, out, log);
    read_checkpoint(in_dir, kMappingFull, {{"mapping", "mapping_full", ""}}, out, log);
  } else {
    // TAVCE's own checkpoints as its inference.py expects them under the
    // repository; face_3drecon still comes from a SadTalker file (the same
    // weights in all three: the safetensors were made from epoch_20.pth).
    std::string recon_file;
    for (const char* f : {kSafetensors256, kSafetensors512, kFaceRecon})
      if (recon_file.empty() && fs::exists(in_dir / f)) recon_file = f;
    if (!recon_file.empty()) read.push_back(recon_file);
    log_line(log, "layout: tavce (exp/facerender/latest.pth, exp/audio2exp/latest.pth, exp/audio2pose/latest.pth, "
                  "exp/correlation/last.pth; face_3drecon from " +
                      (recon_file.empty() ? std::string(kSafetensors256) : recon_file) + ")");
    note_unread_files(in_dir, read, variant, out, log);
    read_checkpoint(in_dir, "exp/facerender/latest.pth",
                    {{"mapping", "mapping", ""}, {"generator", "generator", ""}, {"kp_detector", "kp_detector", ""}},
                    out, log);
    read_checkpoint(in_dir, "exp/audio2exp/latest.pth", {{"netG", "expnet", ""}}, out, log);
    read_checkpoint(in_dir, "exp/audio2pose/latest.pth",
                    {{"netG", "pose_vae", "netG."}, {"audio_encoder", "pose_vae", "audio_encoder."}}, out, log);
    read_checkpoint(in_dir, "exp/correlation/last.pth", {{"audio_encoder", "correlation_audio", ""}}, out, log);
    if (recon_file == kFaceRecon) {
      read_checkpoint(in_dir, kFaceRecon, {{"net_recon", "recon", ""}}, out, log);
    } else {
      read_sadtalker_safetensors(in_dir, recon_file.empty() ? kSafetensors256 : recon_file, {"recon"},
                                 "TAVCE's own checkpoints under exp/ provide it", out, log);
      for (auto& m : out.missing)  // name every file that would have done
        if (m.module == "recon" && recon_file.empty())
          m.reason = std::string(kSafetensors256) + ", " + kSafetensors512 + " and " + kFaceRecon + " not found";
    }
  }
  // syncnet_python's syncnet_v2.model (the LSE-D / LSE-C metric's network) is
  // not part of either release: converted when present, never missing. A
  // directory holding only it makes a SyncNet-only bundle for tavcesyncscore.
  if (fs::exists(in_dir / kSyncNetFile)) {
    const bool alone = out.modules.empty();
    read_checkpoint(in_dir, kSyncNetFile, {{"", "syncnet", ""}}, out, log);
    if (alone) out.missing.clear();
  }
  if (out.modules.empty()) {
    std::string expected;
    for (const auto& m : out.missing) expected += (expected.empty() ? "" : "; ") + m.module + ": " + m.reason;
    throw Error("no official " + std::string(variant_name(variant)) +
                (variant == Variant::SadTalker ? std::string(" (") + layout_name(layout) + " layout)" : "") +
                " checkpoint found in '" + in_dir_text + "' (" + expected +
                "; see models/official-manifest.json and docs/models.md)");
  }
  return out;
}

}  // namespace tavce::models
