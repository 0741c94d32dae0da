// tavce-extract-lite IN_DIR OUT_DIR [--shard i/N] [--force] [--min-frames F] [--min-face FRACTION]
//
// Training data for the lite family from talking-face videos: every video
// under IN_DIR (recursively; the set is the parent folder's name) is decoded
// (video to 25 fps, audio to 16 kHz mono), its face tracked with 68 dlib
// landmarks per frame and its audio turned into the 80-bin mel of
// tavcemelspec. One safetensors file per clip, OUT_DIR/<set>/<stem>.safetensors
// (lite/clip_data.h; docs/dataset.md). Resumable: a clip whose file exists is
// skipped. Atomic: files are written under a temporary name and renamed.
// A clip without audio, without a face in most frames or with too few frames
// is skipped with its reason; a summary (JSON, last line of stdout) counts them.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <set>

#include <nlohmann/json.hpp>
#include <opencv2/imgproc.hpp>

#include "common/cli.h"
#include "common/media_decode.h"
#include "tavce/audio/mel_spectrogram.h"
#include "tavce/error.h"
#include "tavce/face/landmark_tracker.h"
#include "tavce/families/lite/clip_data.h"

namespace fs = std::filesystem;

namespace {

const std::set<std::string> kVideoExtensions = {".mpg", ".mpeg", ".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm"};

struct Shard {
  int index = 0, count = 1;
};

Shard parse_shard(const std::string& s) {
  Shard sh;
  if (s.empty()) return sh;
  if (std::sscanf(s.c_str(), "%d/%d", &sh.index, &sh.count) != 2 || sh.count < 1 || sh.index < 0 ||
      sh.index >= sh.count)
    throw tavce::Error("--shard '" + s + "': expected i/N with 0 <= i < N");
  return sh;
}

int run(const tavce::tools::Args& args) {
  if (args.positional.size() != 2)
    throw tavce::Error("usage: tavce-extract-lite IN_DIR OUT_DIR [--shard i/N] [--force] [--min-frames F] [--min-face X]");
  const fs::path in = args.positional[0], out = args.positional[1];
  if (!fs::is_directory(in)) throw tavce::Error("'" + in.string() + "' is not a directory");
  const Shard shard = parse_shard(args.get("shard", ""));
  const int min_frames = args.get_int("min-frames", 10);
  const double min_face = args.get_double("min-face", 0.8);

  std::vector<fs::path> videos;
  for (const auto& e : fs::recursive_directory_iterator(in))
    if (e.is_regular_file() && kVideoExtensions.count(e.path().extension().string())) videos.push_back(e.path());
  std::sort(videos.begin(), videos.end());
  if (videos.empty()) throw tavce::Error("no video files under '" + in.string() + "'");

  tavce::face::LandmarkTracker tracker;
  nlohmann::json skipped = nlohmann::json::object();
  int done = 0, cached = 0, mine = 0;
  const auto start = std::chrono::steady_clock::now();
  for (size_t i = 0; i < videos.size(); ++i) {
    if (static_cast<int>(i % shard.count) != shard.index) continue;
    ++mine;
  }
  int seen = 0;
  for (size_t i = 0; i < videos.size(); ++i) {
    if (static_cast<int>(i % shard.count) != shard.index) continue;
    ++seen;
    const fs::path& v = videos[i];
    const std::string set = v.parent_path().filename().string();
    const std::string name = set + "/" + v.stem().string();
    const fs::path dest = out / set / (v.stem().string() + ".safetensors");
    if (fs::exists(dest) && !args.has("force")) {
      ++cached;
      continue;
    }
    tavce::lite::ClipData clip;
    clip.name = name;
    clip.source = v.string();
    tracker.reset();
    int64_t with_face = 0;
    std::vector<float> audio;
    try {
      audio = tavce::tools::decode_talking_face(v.string(), [&](const tavce::tools::BgrFrame& f) {
        cv::Mat bgr(f.height, f.width, CV_8UC3, const_cast<uint8_t*>(f.data), f.stride);
        cv::Mat rgb;
        cv::cvtColor(bgr, rgb, cv::COLOR_BGR2RGB);
        clip.width = f.width;
        clip.height = f.height;
        const auto pts = tracker.push(rgb);
        for (int p = 0; p < tavce::lite::kLandmarks; ++p) {
          clip.landmarks.push_back(pts ? static_cast<float>((*pts)[p].x) : NAN);
          clip.landmarks.push_back(pts ? static_cast<float>((*pts)[p].y) : NAN);
        }
        with_face += pts ? 1 : 0;
      });
    } catch (const std::exception& e) {
      skipped[name] = std::string("cannot decode: ") + e.what();
      std::fprintf(stderr, "[%d/%d] %s: skipped (%s)\n", seen, mine, name.c_str(), e.what());
      continue;
    }
    const int64_t frames = clip.frames();
    std::string why;
    if (audio.empty()) why = "no audio";
    else if (frames < min_frames) why = std::to_string(frames) + " frames, fewer than " + std::to_string(min_frames);
    else if (with_face < min_face * static_cast<double>(frames))
      why = "a face in " + std::to_string(with_face) + " of " + std::to_string(frames) + " frames";
    if (!why.empty()) {
      skipped[name] = why;
      std::fprintf(stderr, "[%d/%d] %s: skipped (%s)\n", seen, mine, name.c_str(), why.c_str());
      continue;
    }
    for (float& s : audio) s /= 32768.0f;  // decode_talking_face gives int16 scale
    clip.mel = tavce::audio::melspectrogram(audio.data(), audio.size());
    clip.extra["audio_samples"] = std::to_string(audio.size());
    clip.extra["extractor"] = "tavce-extract-lite 1 (dlib 68, redetect every 10 frames)";
    tavce::lite::save_clip(dest.string(), clip);
    ++done;
    const double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const double eta = el / std::max(1, done) * (mine - seen);
    std::fprintf(stderr, "[%d/%d] %s: %lld frames, face in %lld (%.0f s elapsed, ETA %.0f s)\n", seen, mine,
                 name.c_str(), static_cast<long long>(frames), static_cast<long long>(with_face), el, eta);
  }
  nlohmann::json summary = {{"clips", mine}, {"extracted", done}, {"already_done", cached},
                            {"skipped", skipped.size()}, {"skipped_reasons", skipped}};
  std::printf("%s\n", summary.dump().c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return tavce::tools::run_tool("tavce-extract-lite", [&] {
    return run(tavce::tools::parse_args(argc, argv, {"force"}));
  });
}
