// The converter behind tavce-convert: official SadTalker / TAVCE checkpoints
// -> a model bundle. Every module is built at full size and loaded strictly,
// so a file whose keys or shapes differ from the network is an error listing
// the differences, never a bundle with silently random weights.
#pragma once

#include <ostream>
#include <string>

#include "tavce/models/bundle.h"
#include "tavce/models/official_sources.h"

namespace tavce::models {

struct ConvertOptions {
  std::string in_dir;
  std::string out_dir;  // created if absent; must not already hold a model.json
  std::string name;     // bundle name; default: the out_dir's file name
  std::string variant;  // "sadtalker", "tavce" or "" (detect from in_dir)
  // SadTalker only: "256", "512", "per-module" or "" (detect from in_dir,
  // detect_sadtalker_layout); see SadTalkerLayout.
  std::string layout;
  // Convert what is there even if some of the layout's modules are missing
  // (by default a missing module is an error); each module not converted is
  // printed with the reason.
  bool partial = false;
};

// Converts, writes the weight files and model.json, verifies the result and
// returns it. Progress, the sha256 of every input and every file, checkpoint
// entry or module not converted (with the reason) go to log, one whole,
// flushed line each (log_line), and are recorded in provenance.
Bundle convert_official(const ConvertOptions& options, std::ostream& log);

}  // namespace tavce::models
