// The clips a lite trainer uses, chosen the same way by every lite command:
// --data DATASET (pipelines/extract-dataset.sh output), --exclude PATTERNS
// (default: the clips without a licence, multi/kim_* and multi/webcam_*,
// which are for tests only), --holdout PATTERNS (validation). Patterns are
// "set/clip", "set/*" or "set/prefix*", comma-separated.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/cli.h"
#include "tavce/families/lite/clip_data.h"

namespace tavce::tools {

struct LiteClipSplit {
  std::vector<lite::ClipData> train, held_out;
  nlohmann::json training_clips = nlohmann::json::array();  // [{clip, licence}] for provenance
  nlohmann::json held_out_names = nlohmann::json::array(), excluded = nlohmann::json::array();
};

LiteClipSplit split_lite_clips(const Args& args);

// What ../shared/data/README.md says of a clip's source licence.
std::string licence_note(const std::string& clip_name);

// The JSON of --config FILE, or an empty object (every setting at its default) without one.
nlohmann::json training_config(const Args& args);

// Previous (step, value) points of `key` in a JSON-lines training log, so a
// resumed run's loss plot keeps its history.
std::vector<std::pair<double, double>> logged_series(const std::string& log_path, const std::string& key);

}  // namespace tavce::tools
