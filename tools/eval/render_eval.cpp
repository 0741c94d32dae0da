#include "render_eval.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <optional>
#include <set>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "common/media_decode.h"
#include "energy_baseline.h"
#include "tavce/audio/mel_spectrogram.h"
#include "tavce/error.h"
#include "tavce/face/landmark_tracker.h"
#include "tavce/metrics/audio_energy.h"
#include "tavce/metrics/correlation.h"
#include "tavce/metrics/image_similarity.h"
#include "tavce/metrics/lip_closure.h"
#include "tavce/metrics/mouth_landmarks.h"
#include "tavce/nn/syncnet.h"
#include "tavce/pipeline/audio2coeff_session.h"
#include "tavce/pipeline/model_store.h"
#include "tavce/pipeline/renderer_session.h"
#include "tavce/pipeline/sync_face_track.h"
#include "tavce/pipeline/sync_scoring.h"
#include "tavce/runtime/threads.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace tavce::tools {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr size_t kSamplesPerFrame = 640;  // 16 kHz audio, 25 fps video
const std::set<std::string> kVideoExtensions = {".mpg", ".mpeg", ".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm"};

struct ClipFile {
  std::string name;  // set/stem
  fs::path video;
};

bool matches(const std::string& name, const std::vector<std::string>& patterns) {
  for (const auto& p : patterns) {
    if (!p.empty() && p.back() == '*' ? name.compare(0, p.size() - 1, p, 0, p.size() - 1) == 0 : name == p)
      return true;
  }
  return false;
}

// The videos under dir whose "set/stem" matches, sorted, every Nth kept.
std::vector<ClipFile> find_clips(const fs::path& dir, const std::vector<std::string>& patterns, int every) {
  if (!fs::is_directory(dir)) throw Error("--video-dir '" + dir.string() + "' is not a directory");
  std::vector<ClipFile> all;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (!e.is_regular_file() || !kVideoExtensions.count(e.path().extension().string())) continue;
    const std::string name = e.path().parent_path().filename().string() + "/" + e.path().stem().string();
    if (matches(name, patterns)) all.push_back({name, e.path()});
  }
  std::sort(all.begin(), all.end(), [](const ClipFile& a, const ClipFile& b) { return a.name < b.name; });
  std::vector<ClipFile> kept;
  for (size_t i = 0; i < all.size(); i += static_cast<size_t>(every)) kept.push_back(all[i]);
  if (kept.empty()) throw Error("no video under '" + dir.string() + "' matches --clips");
  return kept;
}

cv::Mat bgr_to_rgb(const BgrFrame& f) {
  const cv::Mat bgr(f.height, f.width, CV_8UC3, const_cast<uint8_t*>(f.data), f.stride);
  cv::Mat rgb;
  cv::cvtColor(bgr, rgb, cv::COLOR_BGR2RGB);
  return rgb;
}

std::optional<metrics::FacePoints> as_points(const std::optional<face::Landmarks>& l) {
  if (!l) return std::nullopt;
  return metrics::FacePoints(l->begin(), l->end());
}

// Pass 1 of a clip: its first frame, the real frames' landmarks, its audio (int16 scale).
struct RealClip {
  cv::Mat first_rgb;
  std::vector<std::optional<metrics::FacePoints>> points;
  std::vector<float> audio;
};

RealClip read_real(const ClipFile& clip, face::LandmarkTracker& tracker) {
  RealClip r;
  tracker.reset();
  r.audio = decode_talking_face(clip.video.string(), [&](const BgrFrame& f) {
    cv::Mat rgb = bgr_to_rgb(f);
    if (r.first_rgb.empty()) r.first_rgb = rgb.clone();
    r.points.push_back(as_points(tracker.push(rgb)));
  });
  if (r.first_rgb.empty()) throw Error(clip.video.string() + ": no video frames");
  if (r.audio.empty()) throw Error(clip.video.string() + ": no audio");
  return r;
}

json lag_json(const metrics::LaggedCorrelation& c) {
  return {{"lag0", c.at_zero}, {"best", c.best}, {"best_lag", c.best_lag}};
}

json closure_json(const std::vector<metrics::ClosureResult>& results) {
  int closed = 0, counted = 0;
  double sum = 0.0;
  json min_openings = json::array();  // per word, so another threshold can be applied later
  for (const auto& r : results) {
    if (!std::isfinite(r.min_opening)) continue;
    ++counted;
    closed += r.closed ? 1 : 0;
    sum += r.min_opening;
    min_openings.push_back(r.min_opening);
  }
  return {{"words", counted}, {"closed", closed}, {"rate", counted ? static_cast<double>(closed) / counted : kNaN},
          {"mean_min_opening", counted ? sum / counted : kNaN}, {"min_openings", min_openings},
          {"threshold", metrics::kClosedLipsIod}};
}

double mean_finite(const std::vector<double>& v) {
  double s = 0.0;
  int n = 0;
  for (double x : v)
    if (std::isfinite(x)) s += x, ++n;
  return n ? s / n : kNaN;
}

// The rows that drive the renderer for one clip and method, T of them.
std::vector<std::vector<float>> driving_rows(const std::string& method, const std::string& model,
                                             const std::vector<float>& mel, int64_t mel_frames,
                                             const std::vector<double>& level_db, int64_t frames, int dims,
                                             pipeline::LoadedBundle& bundle, int threads) {
  std::vector<std::vector<float>> rows;
  if (method == "lite") {
    pipeline::Audio2CoeffSettings s;
    s.model = model;
    s.device = "cpu";
    s.blink = false;  // only the mouth is judged; the renderer's still=true drops the head sway
    s.threads = threads;
    pipeline::Audio2CoeffSession session(s);
    if (session.info().n_mels != 80) throw Error(model + ": the evaluation feeds 80-bin mels");
    session.push_mel(mel.data(), mel_frames);
    session.finish();
    rows = session.pop_ready();
  } else if (method == "energy") {
    const auto space = bundle.lite_motion_space();
    rows = energy_rows(energy_baseline(*space), *space, level_db);
  } else {  // static (and real, whose rows are never rendered): the rest row, the portrait unchanged
    rows.assign(static_cast<size_t>(frames), std::vector<float>(static_cast<size_t>(dims), 0.0f));
  }
  if (static_cast<int64_t>(rows.size()) < frames)
    throw Error(method + " produced " + std::to_string(rows.size()) + " rows for " + std::to_string(frames) + " frames");
  rows.resize(static_cast<size_t>(frames));
  return rows;
}

struct Context {
  std::string model, method;
  std::string save_frames;  // --save-frames: PNGs of the measured frames go under here
  int64_t max_frames = 0;   // --max-frames: only the first N frames of a long clip (0: all)
  int threads = 0;
  std::shared_ptr<pipeline::LoadedBundle> bundle, sync_bundle;
  face::LandmarkTracker real_tracker, generated_tracker;
  pipeline::SyncFaceTracker sync_tracker;
};

json eval_clip(const ClipFile& clip, Context& cx) {
  const auto start = std::chrono::steady_clock::now();
  RealClip real = read_real(clip, cx.real_tracker);
  std::vector<float> audio01(real.audio.size());
  for (size_t i = 0; i < audio01.size(); ++i) audio01[i] = real.audio[i] / 32768.0f;
  const std::vector<float> mel = audio::melspectrogram(audio01.data(), audio01.size());
  const int64_t mel_frames = static_cast<int64_t>(mel.size() / 80);
  // The lite stream's frame count for this audio (audio_stream.h), so every method scores the same frames.
  const int64_t stream_frames = mel_frames > 0 ? (mel_frames - 1) * 200 / 640 : 0;
  int64_t frames = std::min<int64_t>(static_cast<int64_t>(real.points.size()), stream_frames);
  if (cx.max_frames > 0) frames = std::min(frames, cx.max_frames);
  if (frames < 10) throw Error(clip.video.string() + ": fewer than 10 frames with audio");
  const std::vector<double> level_db =
      metrics::frame_energy_db(audio01.data(), audio01.size(), kSamplesPerFrame, static_cast<size_t>(frames));

  pipeline::RendererSettings rs;
  rs.model = cx.model;
  rs.device = "cpu";
  rs.preprocess = "full";  // the whole frame at its own size: the real frames' coordinates
  rs.still = true;
  rs.threads = cx.threads;
  std::unique_ptr<pipeline::RendererSession> renderer;
  std::vector<std::vector<float>> rows;
  if (cx.method != "real") {
    renderer = std::make_unique<pipeline::RendererSession>(rs);
    pipeline::RgbImage portrait{real.first_rgb.cols, real.first_rgb.rows,
                                std::vector<uint8_t>(real.first_rgb.data, real.first_rgb.data + real.first_rgb.total() * 3)};
    renderer->set_portrait(portrait, clip.name + " (first frame)");
    rows = driving_rows(cx.method, cx.model, mel, mel_frames, level_db, frames, renderer->coeff_dims(), *cx.bundle,
                        cx.threads);
  }

  // Pass 2: render frame t beside real frame t, and measure both.
  std::vector<double> lmd, opening, real_opening, psnr, ssim;
  std::vector<uint8_t> crops;
  std::vector<bool> has_crop;
  int64_t t = 0, faces_generated = 0, faces_real = 0;
  cx.generated_tracker.reset();
  cx.sync_tracker.reset();
  (void)decode_talking_face(clip.video.string(), [&](const BgrFrame& f) {
    if (t >= frames) return;
    const cv::Mat real_rgb = bgr_to_rgb(f);
    cv::Mat generated;
    if (renderer) {
      renderer->push(rows[static_cast<size_t>(t)].data(), static_cast<int64_t>(rows[static_cast<size_t>(t)].size()));
      auto out = renderer->pop_ready();
      if (out.size() != 1) throw Error(clip.name + ": the renderer returned " + std::to_string(out.size()) + " frames for one row");
      auto& img = out[0].image;
      generated = cv::Mat(img.height, img.width, CV_8UC3, img.pixels.data()).clone();
      if (generated.size() != real_rgb.size()) throw Error(clip.name + ": rendered frames differ in size from the video");
    } else {
      generated = real_rgb;
    }
    if (!cx.save_frames.empty()) {
      const fs::path dir = fs::path(cx.save_frames) / clip.name;
      fs::create_directories(dir);
      char file[32];
      std::snprintf(file, sizeof file, "%05lld.png", static_cast<long long>(t));
      cv::Mat bgr;
      cv::cvtColor(generated, bgr, cv::COLOR_RGB2BGR);
      if (!cv::imwrite((dir / file).string(), bgr)) throw Error("cannot write " + (dir / file).string());
    }
    const auto gen_pts = as_points(cx.generated_tracker.push(generated));
    const auto& real_pts = real.points[static_cast<size_t>(t)];
    faces_generated += gen_pts ? 1 : 0;
    faces_real += real_pts ? 1 : 0;
    real_opening.push_back(real_pts ? metrics::mouth_opening(*real_pts) : kNaN);
    opening.push_back(gen_pts ? metrics::mouth_opening(*gen_pts) : kNaN);
    if (real_pts && gen_pts) {
      lmd.push_back(metrics::mouth_landmark_distance(*real_pts, *gen_pts));
      const cv::Mat mask = metrics::face_outside_mouth_mask(real_rgb.size(), *real_pts, *gen_pts);
      const cv::Rect roi = cv::boundingRect(mask);
      if (roi.area() > 0 && cv::countNonZero(mask(roi)) > 0) {
        psnr.push_back(metrics::masked_psnr(real_rgb(roi), generated(roi), mask(roi)));
        ssim.push_back(metrics::masked_ssim(real_rgb(roi), generated(roi), mask(roi)));
      }
    }
    const pipeline::SyncImageView view{generated.data, generated.cols, generated.rows, generated.step, 3, 0, 1, 2};
    const auto crop = cx.sync_tracker.push(view);
    has_crop.push_back(!crop.crop.empty());
    if (crop.crop.empty()) crops.resize(crops.size() + 224 * 224 * 3, 0);
    else crops.insert(crops.end(), crop.crop.begin(), crop.crop.end());
    ++t;
  });
  if (t < frames) throw Error(clip.video.string() + ": the second decoding gave fewer frames than the first");

  // SyncNet on the longest run of frames with a face crop, as tavce-eval sync does.
  int64_t run0 = 0, run = 0, s0 = 0;
  for (int64_t i = 0; i <= frames; ++i)
    if (i == frames || !has_crop[static_cast<size_t>(i)]) {
      if (i - s0 > run) run = i - s0, run0 = s0;
      s0 = i + 1;
    }
  json row = {{"clip", clip.name}, {"method", cx.method}, {"model", cx.bundle->dir()}, {"frames", frames},
              {"faces_real", faces_real}, {"faces_generated", faces_generated}};
  {
    const at::Tensor all = at::from_blob(crops.data(), {frames, 224, 224, 3}, at::kByte);
    const at::Tensor span = all.slice(0, run0, run0 + run).contiguous();
    const size_t a0 = static_cast<size_t>(run0) * kSamplesPerFrame;
    const size_t a1 = std::min(real.audio.size(), static_cast<size_t>(run0 + run) * kSamplesPerFrame);
    nn::SyncNet net = cx.sync_bundle->syncnet();
    net->eval();
    const auto s = a1 > a0 ? pipeline::score_sync(*net, span, real.audio.data() + a0, a1 - a0, 15, 20,
                                                  cx.sync_bundle->device())
                           : pipeline::SyncScore{};
    if (s.embeddings > 0) {
      row["lse_d"] = s.lse.min_dist;
      row["lse_c"] = s.lse.conf;
      row["offset"] = s.lse.offset;
    }
    row["sync_frames"] = run;
  }
  row["lmd"] = mean_finite(lmd);
  row["opening_mean"] = mean_finite(opening);
  row["real_opening_mean"] = mean_finite(real_opening);
  row["opening_vs_real"] = lag_json(metrics::lagged_correlation(opening, real_opening, 15));
  row["opening_vs_energy"] = lag_json(metrics::lagged_correlation(opening, level_db, 15));
  row["real_opening_vs_energy"] = lag_json(metrics::lagged_correlation(real_opening, level_db, 15));
  row["psnr"] = mean_finite(psnr);  // inf frames (identical) drop out: "real" has none
  row["ssim"] = mean_finite(ssim);
  const fs::path align = fs::path(clip.video).replace_extension(".align");
  if (fs::exists(align)) {
    const auto words = metrics::read_align(align.string());
    row["closure"] = closure_json(metrics::bilabial_closures(words, opening));
    row["real_closure"] = closure_json(metrics::bilabial_closures(words, real_opening));
  }
  row["seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return row;
}

}  // namespace

int eval_render(const Args& args) {
  const std::string model = args.get("model", ""), out = args.get("out", "");
  const std::string video_dir = args.get("video-dir", ""), patterns = args.get("clips", "");
  if (model.empty() || out.empty() || video_dir.empty() || patterns.empty())
    throw Error("render needs --model BUNDLE --video-dir DIR --clips PATTERNS --out DIR");
  const std::string method = args.get("baseline", "lite");
  if (method != "lite" && method != "static" && method != "energy" && method != "real")
    throw Error("--baseline '" + method + "': expected static, energy or real (none: the model itself)");
  const int every = args.get_int("every", 1);
  if (every < 1) throw Error("--every must be >= 1");

  Context cx;
  cx.model = model;
  cx.method = method;
  cx.save_frames = args.get("save-frames", "");
  cx.max_frames = args.get_int("max-frames", 0);
  cx.threads = runtime::configure_threads(args.get_int("threads", 0));
  cx.bundle = pipeline::LoadedBundle::get(model, "cpu");
  if (!cx.bundle->bundle().is_lite()) throw Error("render evaluates lite bundles; '" + model + "' is not one");
  cx.sync_bundle = pipeline::LoadedBundle::get(args.get("syncnet", "syncnet"), "cpu");
  const std::vector<ClipFile> clips = find_clips(video_dir, split_list(patterns), every);

  fs::create_directories(out);
  std::ofstream lines(fs::path(out) / "clips.jsonl");
  if (!lines) throw Error("cannot write " + (fs::path(out) / "clips.jsonl").string());
  json failed = json::object();
  int done = 0;
  double seconds = 0.0;
  for (size_t i = 0; i < clips.size(); ++i) {
    try {
      const json row = eval_clip(clips[i], cx);
      lines << row.dump() << "\n" << std::flush;
      seconds += row["seconds"].get<double>();
      ++done;
      std::fprintf(stderr, "[%zu/%zu] %s %s: LMD %.3f, r(open, real) %.2f, LSE-D %s (%.1f s)\n", i + 1, clips.size(),
                   method.c_str(), clips[i].name.c_str(), row["lmd"].is_number() ? row["lmd"].get<double>() : kNaN,
                   row["opening_vs_real"]["lag0"].is_number() ? row["opening_vs_real"]["lag0"].get<double>() : kNaN,
                   row.contains("lse_d") ? std::to_string(row["lse_d"].get<double>()).c_str() : "-",
                   row["seconds"].get<double>());
    } catch (const Error& e) {
      failed[clips[i].name] = e.what();
      std::fprintf(stderr, "[%zu/%zu] %s: skipped (%s)\n", i + 1, clips.size(), clips[i].name.c_str(), e.what());
    }
  }
  const json summary = {{"model", cx.bundle->dir()}, {"method", method}, {"clips", done}, {"failed", failed},
                        {"every", every}, {"max_frames", cx.max_frames}, {"patterns", patterns}, {"seconds", seconds},
                        {"syncnet", cx.sync_bundle->dir()}};
  std::ofstream(fs::path(out) / "summary.json") << summary.dump(2) << "\n";
  std::printf("%s\n", summary.dump().c_str());
  return 0;  // skipped clips are named in the summary; the others still count
}

}  // namespace tavce::tools
