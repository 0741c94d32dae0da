#include "lite_clips.h"

#include <fstream>

#include "tavce/error.h"

namespace tavce::tools {

namespace {

bool matches(const std::string& name, const std::vector<std::string>& patterns) {
  for (const auto& p : patterns) {
    if (!p.empty() && p.back() == '*') {
      if (name.compare(0, p.size() - 1, p, 0, p.size() - 1) == 0) return true;
    } else if (name == p) {
      return true;
    }
  }
  return false;
}

}  // namespace

std::string licence_note(const std::string& name) {
  auto starts = [&](const char* p) { return name.rfind(p, 0) == 0; };
  if (starts("grid/") || starts("grid_s1/") || starts("multi/grid_")) return "GRID corpus, CC BY 4.0 (Cooke et al. 2006)";
  if (starts("multi/lrs2_")) return "LRS2 (BBC), research only, non-commercial";
  if (starts("multi/lrs3_")) return "LRS3 (TED), research only, non-commercial";
  if (starts("multi/mead_") || starts("multi/eamm_")) return "MEAD, research only, non-commercial";
  if (starts("multi/kim_") || starts("multi/webcam_")) return "no licence: tests only";
  if (starts("hdtf/")) return "HDTF-style example clips (SadTalker / video-retalking examples), third-party footage";
  if (starts("vox/")) return "VoxCeleb2-style tracks (PC-AVS demo material), third-party footage";
  return "unknown";
}

LiteClipSplit split_lite_clips(const Args& args) {
  const std::string data_dir = args.get("data", "");
  if (data_dir.empty()) throw Error("--data DATASET (pipelines/extract-dataset.sh output) is required");
  const std::vector<std::string> exclude = split_list(args.get("exclude", "multi/kim_*,multi/webcam_*"));
  const std::vector<std::string> holdout = split_list(args.get("holdout", ""));
  LiteClipSplit s;
  for (auto& c : lite::load_clips(data_dir)) {
    if (matches(c.name, exclude)) {
      s.excluded.push_back(c.name);
    } else if (matches(c.name, holdout)) {
      s.held_out_names.push_back(c.name);
      s.held_out.push_back(std::move(c));
    } else {
      s.training_clips.push_back({{"clip", c.name}, {"licence", licence_note(c.name)}});
      s.train.push_back(std::move(c));
    }
  }
  if (s.train.empty()) throw Error("no training clip left in " + data_dir + " after --exclude and --holdout");
  return s;
}

nlohmann::json training_config(const Args& args) {
  if (!args.has("config")) return nlohmann::json::object();
  std::ifstream in(args.get("config", ""));
  if (!in) throw Error("cannot read --config " + args.get("config", ""));
  return nlohmann::json::parse(in);
}

std::vector<std::pair<double, double>> logged_series(const std::string& log_path, const std::string& key) {
  std::vector<std::pair<double, double>> points;
  std::ifstream in(log_path);
  std::string line;
  while (std::getline(in, line)) {
    const nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
    if (!j.is_discarded() && j.contains(key) && j.contains("step"))
      points.emplace_back(j["step"].get<double>(), j[key].get<double>());
  }
  return points;
}

}  // namespace tavce::tools
