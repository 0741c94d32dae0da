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

// The sets of official SadTalker files a user may hold, each used with the two
// mapping files (mapping_00229 / mapping_00109):
//  - Safetensors256: SadTalker_V0.0.2_256.safetensors, the current release's
//    default (SadTalker's inference.py without --size);
//  - Safetensors512: SadTalker_V0.0.2_512.safetensors, the same keys with the
//    renderer trained at 512x512 (SadTalker's --size 512);
//  - PerModule: the older per-module checkpoints of the v0.0.2 release
//    (auido2exp_00300-model.pth, auido2pose_00140-model.pth,
//    facevid2vid_00189-model.pth.tar, epoch_20.pth; SadTalker's --old_version
//    and its fallback when no .safetensors is present).
enum class SadTalkerLayout { Safetensors256, Safetensors512, PerModule };
// "256", "512" or "per-module"; throws tavce::Error for anything else.
SadTalkerLayout parse_sadtalker_layout(const std::string& text);
// The name parse_sadtalker_layout reads.
const char* layout_name(SadTalkerLayout layout);
// The layout of the files in in_dir: the 256 safetensors if present, else the
// 512 one, else the per-module set if any of its four files is present, else
// Safetensors256 (so the missing files are named after the default release).
SadTalkerLayout detect_sadtalker_layout(const std::string& in_dir);

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

// A module of the layout that no input provides.
struct MissingModule {
  std::string module;
  std::string reason;  // "mapping_00109-model.pth.tar not found", ...
};

// A file of in_dir, an entry of a checkpoint or a prefix of a safetensors
// file that was deliberately not converted.
struct SkippedItem {
  std::string what;    // "wav2lip.pth", "facevid2vid_00189-model.pth.tar ['he_estimator']", ...
  std::string reason;
};

struct OfficialSources {
  Variant variant = Variant::SadTalker;
  SadTalkerLayout layout = SadTalkerLayout::Safetensors256;  // SadTalker only
  // The image size the renderer modules were trained at (architecture.generator.image_size).
  int image_size = 256;
  std::vector<InputFile> inputs;
  std::vector<SourceModule> modules;
  std::vector<MissingModule> missing;  // modules the layout has but no file provides, one entry per module
  std::vector<SkippedItem> skipped;
};

// Reads every official file of the variant (and, for SadTalker, of the
// layout) present in in_dir. Each line of log is written whole and flushed:
// the chosen layout, one "skipped WHAT: REASON" line per file, checkpoint
// entry or prefix not converted, and one "input NAME: N bytes, sha256 HEX"
// line per input (the digest is computed before the line is started, so an
// error can never land inside it). A SadTalker safetensors holding keys
// outside the five known prefixes, a prefix with no keys, or a checkpoint
// without the expected dict entry is an error naming the file; a file that is
// absent is recorded in `missing`. Throws tavce::Error if no official file is
// found.
OfficialSources read_official_sources(const std::string& in_dir, Variant variant, SadTalkerLayout layout,
                                      std::ostream& log);

// Writes text plus a newline to log as one piece and flushes it, so that when
// stdout and stderr share a terminal or pipe an error message never lands
// inside a line.
void log_line(std::ostream& log, const std::string& text);

}  // namespace tavce::models
