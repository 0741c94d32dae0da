// Model bundles: a directory holding model.json and safetensors weight files.
//
// model.json (schema_version 1) records everything needed to rebuild the
// networks without guessing: the architecture configs (in the key vocabulary
// of the nn config from_json functions), the coefficient space, the audio
// front-end parameters, the frame rate, provenance, licence, and for every
// weight file its size, sha256 and the modules it holds. read_bundle checks
// the schema; verify_bundle also checks every weight file against model.json,
// so a corrupt, truncated or missing file is reported before any weights load.
// No LibTorch here.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace tavce::models {

constexpr int kBundleSchemaVersion = 1;
constexpr const char* kBundleManifestName = "model.json";

// The SadTalker audio front end (reference-architecture §2); bundles record it
// so a model trained with other parameters cannot be fed the wrong mels.
struct AudioFrontend {
  int64_t sample_rate = 16000;
  int64_t n_fft = 800;
  int64_t hop = 200;
  int64_t win = 800;
  int64_t n_mels = 80;
  double fmin = 55.0;
  double fmax = 7600.0;
  double preemphasis = 0.97;
  std::string norm = "slaney";  // mel filter normalisation
};

struct BundleFile {
  std::string sha256;                         // 64 lowercase hex digits
  uint64_t bytes = 0;
  std::vector<std::string> modules;           // architecture entries stored in the file
  std::map<std::string, std::string> prefixes;  // module -> key prefix in the file ("" = none)
};

// Model families: which parts the elements run for a bundle. "sadtalker" and
// "tavce" (SadTalker plus TAVCE's correlation modules) share one code path;
// "lite" is the project's own landmark-driven family (families/lite/).
inline const std::vector<std::string>& known_families() {
  static const std::vector<std::string> f{"sadtalker", "tavce", "lite"};
  return f;
}

struct Bundle {
  int schema_version = kBundleSchemaVersion;
  std::string name;
  // model.json "family"; bundles written before families existed lack it and
  // are SadTalker/TAVCE bundles.
  std::string family = "sadtalker";
  std::string description;
  // Module name ("expnet", "pose_vae", "mapping", "kp_detector", "generator",
  // "recon", ...) -> its config object, read by the matching from_json.
  nlohmann::json architecture = nlohmann::json::object();
  std::string coefficient_space = "bfm-exp64-pose6";
  AudioFrontend audio_frontend;
  double fps = 25.0;
  nlohmann::json provenance = nlohmann::json::object();  // free-form
  std::string licence;
  std::map<std::string, BundleFile> files;  // file name (relative to the bundle) -> entry

  bool has_module(const std::string& module) const { return architecture.contains(module); }
  bool is_lite() const { return family == "lite"; }
  // The file holding `module` and the key prefix of its tensors there.
  // Throws tavce::Error if no file lists the module.
  std::pair<std::string, std::string> locate(const std::string& module) const;
};

// model.json <-> Bundle. from_json throws tavce::Error naming the offending
// field ("model.json: files.\"x.safetensors\".sha256 must be ...").
Bundle bundle_from_json(const nlohmann::json& j, const std::string& label = kBundleManifestName);
nlohmann::json bundle_to_json(const Bundle& bundle);

// Reads and validates dir/model.json (schema only; the weight files are not touched).
Bundle read_bundle(const std::string& dir);
// read_bundle, then checks that every listed file exists with the recorded
// size and sha256, and that every architecture module is stored in some file.
// Throws tavce::Error naming the file and what differs.
Bundle verify_bundle(const std::string& dir);
// Writes dir/model.json (atomically: temporary file, then rename). The weight
// files must already be in dir; use describe_file to fill their entries.
void write_bundle(const std::string& dir, const Bundle& bundle);
// size and sha256 of dir/file, with the given modules and prefixes.
BundleFile describe_file(const std::string& dir, const std::string& file, std::vector<std::string> modules,
                         std::map<std::string, std::string> prefixes = {});

}  // namespace tavce::models
