#include "tavce/families/lite/clip_extraction.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "tavce/error.h"

namespace fs = std::filesystem;

namespace tavce::lite {

namespace {

double median_of(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

std::string box_text(const FaceBox& b) {
  char buf[128];
  std::snprintf(buf, sizeof buf, "%.1f,%.1f,%.1f,%.1f", b.x0, b.y0, b.x1, b.y1);
  return buf;
}

// "x0,y0,x1,y1" back to four numbers for the manifest; null when absent.
nlohmann::json box_json(const std::string& text) {
  double v[4];
  if (std::sscanf(text.c_str(), "%lf,%lf,%lf,%lf", &v[0], &v[1], &v[2], &v[3]) != 4) return nullptr;
  return {v[0], v[1], v[2], v[3]};
}

}  // namespace

AvOffset median_av_offset(const std::vector<SyncWindowScore>& windows) {
  std::vector<double> offsets;
  double lse_c = 0;
  for (const SyncWindowScore& w : windows) {
    if (!w.scored) continue;
    offsets.push_back(w.offset);
    lse_c += w.lse_c;
  }
  AvOffset r;
  r.windows = static_cast<int>(offsets.size());
  if (offsets.empty()) {
    r.lse_c = std::nan("");
    return r;
  }
  // Halves (even counts) round toward zero: trunc, not round.
  r.frames = static_cast<int>(std::trunc(median_of(offsets)));
  r.lse_c = lse_c / static_cast<double>(offsets.size());
  return r;
}

FaceBoxSummary summarize_face_boxes(const std::vector<std::optional<FaceBox>>& boxes) {
  std::vector<double> x0, y0, x1, y1;
  FaceBoxSummary s;
  for (const auto& b : boxes) {
    if (!b) continue;
    if (s.frames == 0) s.bounds = *b;
    s.bounds.x0 = std::min(s.bounds.x0, b->x0);
    s.bounds.y0 = std::min(s.bounds.y0, b->y0);
    s.bounds.x1 = std::max(s.bounds.x1, b->x1);
    s.bounds.y1 = std::max(s.bounds.y1, b->y1);
    x0.push_back(b->x0);
    y0.push_back(b->y0);
    x1.push_back(b->x1);
    y1.push_back(b->y1);
    s.frames++;
  }
  if (s.frames > 0) s.median = {median_of(x0), median_of(y0), median_of(x1), median_of(y1)};
  return s;
}

std::string skip_reason(int64_t frames, int64_t face_frames, int64_t mel_frames, const SkipRule& rule) {
  if (mel_frames <= 0) return "no audio";
  if (frames < rule.min_frames)
    return std::to_string(frames) + " frames, fewer than " + std::to_string(rule.min_frames);
  if (static_cast<double>(face_frames) < rule.min_face * static_cast<double>(frames)) {
    char pct[16];
    std::snprintf(pct, sizeof pct, "%.0f", rule.min_face * 100.0);
    return "a face in " + std::to_string(face_frames) + " of " + std::to_string(frames) + " frames, fewer than " +
           pct + " %";
  }
  return "";
}

std::vector<float> align_mel(const std::vector<float>& mel, int64_t lead, int n_mels, float silence) {
  if (n_mels <= 0 || mel.size() % static_cast<size_t>(n_mels) != 0)
    throw Error("align_mel: the mel is not a whole number of " + std::to_string(n_mels) + "-band frames");
  std::vector<float> out;
  if (lead >= 0) {
    out.assign(static_cast<size_t>(lead) * n_mels, silence);
    out.insert(out.end(), mel.begin(), mel.end());
  } else {
    const size_t drop = std::min(mel.size(), static_cast<size_t>(-lead) * n_mels);
    out.assign(mel.begin() + static_cast<std::ptrdiff_t>(drop), mel.end());
  }
  return out;
}

void add_extraction_metadata(ClipData& clip, const AvOffset& offset, const FaceBoxSummary& boxes) {
  char lse[32];
  std::snprintf(lse, sizeof lse, "%.4f", offset.lse_c);  // "nan" without scored windows
  clip.extra[kAvOffsetFrames] = std::to_string(offset.frames);
  clip.extra[kAvOffsetWindows] = std::to_string(offset.windows);
  clip.extra[kAvLseC] = lse;
  clip.extra["face_frames"] = std::to_string(boxes.frames);
  if (boxes.frames > 0) {
    clip.extra["face_box_median"] = box_text(boxes.median);
    clip.extra["face_box_bounds"] = box_text(boxes.bounds);
  }
  clip.extra["mel_frames"] = std::to_string(clip.mel_frames());
}

std::string manifest_entry(const ClipData& clip, const std::string& file) {
  auto extra = [&](const char* key) {
    const auto it = clip.extra.find(key);
    return it == clip.extra.end() ? std::string() : it->second;
  };
  auto integer = [&](const char* key) -> nlohmann::json {
    const std::string v = extra(key);
    if (v.empty()) return nullptr;
    try {
      return std::stoll(v);
    } catch (const std::exception&) {
      return nullptr;
    }
  };
  nlohmann::json j;
  j["name"] = clip.name;
  j["file"] = file;
  j["source"] = clip.source;
  j["fps"] = clip.fps;
  j["frames"] = clip.frames();
  j["width"] = clip.width;
  j["height"] = clip.height;
  j["mel_frames"] = clip.mel_frames();
  j["face_frames"] = integer("face_frames");
  j["face_box_median"] = box_json(extra("face_box_median"));
  j["face_box_bounds"] = box_json(extra("face_box_bounds"));
  j[kAvOffsetFrames] = integer(kAvOffsetFrames);
  j[kAvOffsetWindows] = integer(kAvOffsetWindows);
  const std::string lse = extra(kAvLseC);
  const double lse_c = lse.empty() ? std::nan("") : std::strtod(lse.c_str(), nullptr);
  j[kAvLseC] = std::isfinite(lse_c) ? nlohmann::json(lse_c) : nlohmann::json(nullptr);
  j["mel_shift_frames"] = integer("mel_shift_frames");
  j["extractor"] = extra("extractor");
  j["commit"] = extra("commit");
  return j.dump();
}

void write_file_atomic(const std::string& path, const std::string& text) {
  const fs::path dir = fs::path(path).parent_path();
  if (!dir.empty()) fs::create_directories(dir);
  const std::string tmp = path + ".tmp-" + std::to_string(static_cast<long long>(::getpid()));
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << text;
    out.flush();
    if (!out) throw Error("cannot write '" + tmp + "': " + std::strerror(errno));
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) {
    fs::remove(tmp);
    throw Error("cannot rename '" + tmp + "' to '" + path + "': " + ec.message());
  }
}

}  // namespace tavce::lite
