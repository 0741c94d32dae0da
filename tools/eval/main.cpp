// tavce-eval sync --model BUNDLE --clips CACHE [--folds N --fold K] [--shift SECONDS] [--vshift 15]
//                 [--threads N] [--markdown]
// Lip-sync validation of a SyncNet bundle on cached clips (tavce-train
// sync-data): each clip is scored, with the scorer's code (score_sync), on
// its own audio and on the audio delayed and advanced by --shift seconds
// (default 0.4; the gap is filled with silence). A clip passes when the
// original has a lower LSE-D and a higher LSE-C than both shifted versions
// and its offset is within +-1 frame. Prints one JSON object per clip and a
// summary line, or a Markdown table with --markdown.
#include <cmath>
#include <cstdio>
#include <string>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "common/cli.h"
#include "render_eval.h"
#include "render_table.h"
#include "tavce/error.h"
#include "tavce/pipeline/model_store.h"
#include "tavce/pipeline/sync_scoring.h"
#include "tavce/runtime/threads.h"
#include "tavce/train/sync_clip.h"

using nlohmann::json;

namespace tavce {
namespace {

// The clip's audio moved by `samples` (> 0: delayed, the audio lags the
// video), same length, silence where nothing was.
std::vector<float> shifted(const at::Tensor& audio, int64_t samples) {
  const int64_t n = audio.numel();
  const float* a = audio.data_ptr<float>();
  std::vector<float> out(static_cast<size_t>(n), 0.0f);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t j = i - samples;
    if (j >= 0 && j < n) out[static_cast<size_t>(i)] = a[j];
  }
  return out;
}

// The longest run of frames holding a face crop: the scorer skips windows with boxless frames.
std::pair<int64_t, int64_t> longest_face_run(const at::Tensor& has_face) {
  const at::Tensor f = has_face.to(at::kBool).contiguous();
  const bool* p = f.data_ptr<bool>();
  int64_t best0 = 0, best = 0, start = 0;
  for (int64_t t = 0; t <= f.numel(); ++t) {
    if (t == f.numel() || !p[t]) {
      if (t - start > best) best = t - start, best0 = start;
      start = t + 1;
    }
  }
  return {best0, best};
}

json score_json(const pipeline::SyncScore& s) {
  return {{"lse_d", s.lse.min_dist}, {"lse_c", s.lse.conf}, {"offset", s.lse.offset}};
}

int eval_sync(const tools::Args& args) {
  const std::string model = args.get("model", "");
  const std::string clips_dir = args.get("clips", "");
  if (clips_dir.empty()) throw Error("sync needs --clips CACHE (tavce-train sync-data) and --model BUNDLE");
  runtime::configure_threads(args.get_int("threads", 0));
  const double shift_s = args.get_double("shift", 0.4);
  const int vshift = args.get_int("vshift", 15);
  const int folds = args.get_int("folds", 2), fold = args.get_int("fold", -1);
  const bool markdown = args.has("markdown");

  auto bundle = pipeline::LoadedBundle::get(model.empty() ? "syncnet" : model, args.get("device", "cpu"));
  nn::SyncNet net = bundle->syncnet();
  net->eval();
  std::vector<train::SyncClip> clips = train::load_sync_clips(clips_dir);
  std::vector<std::string> names;
  for (const auto& c : clips) names.push_back(c.name);
  const std::vector<int> fold_of = train::assign_folds(names, folds);

  const int64_t shift = std::llround(shift_s * 16000.0);
  int total = 0, passed = 0;
  if (markdown)
    std::printf("| clip | frames | LSE-D orig / +%.1fs / -%.1fs | LSE-C orig / +%.1fs / -%.1fs | offset orig / + / - | pass |\n"
                "|---|---|---|---|---|---|\n", shift_s, shift_s, shift_s, shift_s);
  for (size_t i = 0; i < clips.size(); ++i) {
    if (fold >= 0 && fold_of[i] != fold) continue;
    const train::SyncClip& c = clips[i];
    const auto [t0, len] = longest_face_run(c.has_face);
    const at::Tensor crops = c.crops.slice(0, t0, t0 + len);
    const at::Tensor audio = c.audio.slice(0, t0 * 640, std::min<int64_t>(c.audio.numel(), (t0 + len) * 640)).contiguous();
    json row = {{"clip", c.name}, {"frames", len}, {"first_frame", t0}};
    const std::vector<float> orig(audio.data_ptr<float>(), audio.data_ptr<float>() + audio.numel());
    const std::vector<float> late = shifted(audio, shift), early = shifted(audio, -shift);
    const auto s0 = pipeline::score_sync(*net, crops, orig.data(), orig.size(), vshift, 20, bundle->device());
    const auto sp = pipeline::score_sync(*net, crops, late.data(), late.size(), vshift, 20, bundle->device());
    const auto sm = pipeline::score_sync(*net, crops, early.data(), early.size(), vshift, 20, bundle->device());
    if (s0.embeddings == 0) {
      row["skipped"] = "too few frames with a face";
      if (!markdown) std::printf("%s\n", row.dump().c_str());
      continue;
    }
    const bool pass = s0.lse.min_dist < std::min(sp.lse.min_dist, sm.lse.min_dist) &&
                      s0.lse.conf > std::max(sp.lse.conf, sm.lse.conf) && std::abs(s0.lse.offset) <= 1;
    total++;
    passed += pass ? 1 : 0;
    row["original"] = score_json(s0);
    row["delayed"] = score_json(sp);
    row["advanced"] = score_json(sm);
    row["pass"] = pass;
    if (markdown)
      std::printf("| %s | %lld | %.2f / %.2f / %.2f | %.2f / %.2f / %.2f | %lld / %lld / %lld | %s |\n", c.name.c_str(),
                  static_cast<long long>(len), s0.lse.min_dist, sp.lse.min_dist, sm.lse.min_dist, s0.lse.conf,
                  sp.lse.conf, sm.lse.conf, static_cast<long long>(s0.lse.offset),
                  static_cast<long long>(sp.lse.offset), static_cast<long long>(sm.lse.offset), pass ? "yes" : "no");
    else
      std::printf("%s\n", row.dump().c_str());
    std::fflush(stdout);
  }
  const json summary = {{"model", bundle->dir()}, {"clips", total}, {"passed", passed},
                        {"fraction", total ? static_cast<double>(passed) / total : 0.0}, {"shift_s", shift_s}};
  if (markdown)
    std::printf("\n%d of %d clips pass (%.0f%%).\n", passed, total, total ? 100.0 * passed / total : 0.0);
  else
    std::printf("%s\n", json{{"summary", summary}}.dump().c_str());
  return 0;
}

}  // namespace
}  // namespace tavce

int main(int argc, char** argv) {
  using namespace tavce;
  return tools::run_tool("tavce-eval", [&]() {
    const tools::Args args = tools::parse_args(argc, argv, {"markdown"});
    const std::string command = args.positional.empty() ? "" : args.positional[0];
    if (command == "render") return tools::eval_render(args);
    if (command == "render-table") return tools::render_table(args);
    if (command != "sync") {
      std::fprintf(stderr,
                   "usage: tavce-eval sync --model BUNDLE --clips CACHE [--folds N --fold K] [--shift 0.4] "
                   "[--vshift 15] [--threads N] [--markdown]\n"
                   "       tavce-eval render --model BUNDLE --video-dir DIR --clips PATTERNS [--every N]\n"
                   "                         [--baseline static|energy|real] [--syncnet BUNDLE] [--threads N] [--save-frames DIR] [--max-frames N] --out DIR\n"
                   "       tavce-eval render-table DIR... [--title TEXT]\n");
      return 2;
    }
    return eval_sync(args);
  });
}
