// Finding and reading the official SadTalker / TAVCE checkpoint files
// (reference-architecture §6.1) for the bundle converter.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tavce/nn/state_dict.h"

namespace tavce::models {

enum class Variant { SadTalker, Tavce };
// "sadtalker" / "tavce"; throws tavce::Error for anything else.
Variant parse_variant(const std::string& text);
const char* variant_name(Variant v);
// Tavce when in_dir holds exp/facerender/latest.pth, SadTalker otherwise.
Variant detect_variant(const std::string& in_dir);

// One official file that was read: for the provenance and the manifest.
struct InputFile {
  std::string name;  // relative to the input directory
  uint64_t bytes = 0;
  std::string sha256;
};

// The tensors of one bundle module as found in the official files, keys as
// the module registers them (prefix removed, "module." stripped, spectral
// norm not yet folded).
struct SourceModule {
  std::string module;  // bundle architecture name: "kp_detector", "mapping", ...
  std::string source;  // "SadTalker_V0.0.2_256.safetensors [kp_extractor.]", ...
  nn::TensorMap tensors;
};

struct OfficialSources {
  Variant variant = Variant::SadTalker;
  std::vector<InputFile> inputs;
  std::vector<SourceModule> modules;
  std::vector<std::string> missing;  // modules the variant has but no file provided
};

// Reads every official file of the variant present in in_dir, printing each
// input's size and sha256 to log. A SadTalker safetensors holding keys outside
// the five known prefixes, a prefix with no keys, or a checkpoint without the
// expected dict entry is an error naming the file; a file that is absent is
// recorded in `missing`. Throws tavce::Error if no official file is found.
OfficialSources read_official_sources(const std::string& in_dir, Variant variant, std::ostream& log);

}  // namespace tavce::models
