// tavce-bench lite: the lite family's whole render path as the elements run
// it (Audio2CoeffSession and RendererSession on a lite bundle), on real
// speech and a real portrait:
//   once       session start-up (bundle load), source preparation (face
//              detection, landmarks, mesh, mouth interior) on a cold cache;
//   per frame  mel front end, audio network, renderer (warp + interior),
//              timed over the whole clip.
// Plus the bundle's size on disk. Peak RSS is added by main.cpp.
#include <chrono>
#include <filesystem>

#include "bench/bench.h"
#include "bench/bench_inputs.h"
#include "tavce/audio/mel_spectrogram.h"
#include "tavce/error.h"
#include "tavce/pipeline/audio2coeff_session.h"
#include "tavce/pipeline/model_store.h"
#include "tavce/pipeline/renderer_session.h"
#include "tavce/models/bundle.h"

namespace fs = std::filesystem;

namespace tavce::bench {

namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

}  // namespace

nlohmann::json bench_lite(const tools::Args& args) {
  const int requested_threads = args.get_int("threads", 0);  // 0: what the elements pick (session_threads)
  const std::string model = args.get("model", pipeline::kDefaultBundleName);
  const std::string preprocess = args.get("preprocess", "crop");
  const double seconds = args.get_double("seconds", 20.0);
  if (!(seconds >= 1.0)) throw Error("--seconds must be at least 1");
  const std::string portrait = bench_portrait(args);
  const BenchAudio input = bench_audio(args, static_cast<size_t>(seconds * 16000.0));

  const std::string dir = pipeline::locate_bundle(model);
  uintmax_t bundle_bytes = 0;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_regular_file()) bundle_bytes += e.file_size();

  const int threads = pipeline::session_threads(requested_threads, models::read_bundle(dir));
  nlohmann::json result = {{"bench", "lite"},        {"model", dir},       {"threads", threads},
                           {"preprocess", preprocess}, {"portrait", portrait}, {"audio", input.source},
                           {"audio_seconds", seconds}, {"bundle_bytes", bundle_bytes}};
  nlohmann::json once;
  auto t0 = Clock::now();
  pipeline::RendererSettings rs;
  rs.model = model;
  rs.device = "cpu";
  rs.preprocess = preprocess;
  rs.threads = requested_threads;
  pipeline::RendererSession renderer(rs);
  pipeline::Audio2CoeffSettings as;
  as.model = model;
  as.device = "cpu";
  as.threads = requested_threads;
  pipeline::Audio2CoeffSession a2c(as);
  once["sessions_start_ms"] = ms_since(t0);
  t0 = Clock::now();
  renderer.set_portrait_file(portrait);
  once["source_preparation_ms"] = ms_since(t0);
  result["once"] = once;

  // Mel in chunks of one video frame of audio, then the audio network in
  // chunks of 16 mel frames, as the elements stream them.
  audio::MelSpectrogram mel;
  std::vector<float> mels;
  t0 = Clock::now();
  for (size_t at = 0; at < input.samples.size(); at += 640)
    mel.push(input.samples.data() + at, std::min<size_t>(640, input.samples.size() - at), mels);
  mel.finish(mels);
  const double mel_ms = ms_since(t0);
  const int64_t n_mel = static_cast<int64_t>(mels.size()) / mel.n_mels();
  std::vector<std::vector<float>> rows;
  t0 = Clock::now();
  for (int64_t at = 0; at < n_mel; at += 16) {
    a2c.push_mel(mels.data() + at * mel.n_mels(), std::min<int64_t>(16, n_mel - at));
    for (auto& r : a2c.pop_ready()) rows.push_back(std::move(r));
  }
  a2c.finish();
  for (auto& r : a2c.pop_ready()) rows.push_back(std::move(r));
  const double a2c_ms = ms_since(t0);
  if (rows.empty()) throw Error("the audio network produced no rows");

  int64_t frames = 0;
  int width = 0, height = 0;
  t0 = Clock::now();
  for (const auto& r : rows) {
    renderer.push(r.data(), static_cast<int64_t>(r.size()));
    for (const auto& f : renderer.pop_ready()) ++frames, width = f.image.width, height = f.image.height;
  }
  renderer.finish();
  for (const auto& f : renderer.pop_ready()) ++frames, width = f.image.width, height = f.image.height;
  const double render_ms = ms_since(t0);
  if (frames == 0) throw Error("the renderer produced no frames");

  const double n = static_cast<double>(frames);
  nlohmann::json per_frame = {{"mel_ms", mel_ms / n}, {"audio2coeff_ms", a2c_ms / n}, {"renderer_ms", render_ms / n}};
  const double total = (mel_ms + a2c_ms + render_ms) / n;
  result["frames"] = frames;
  result["output_size"] = std::to_string(width) + "x" + std::to_string(height);
  result["per_frame"] = per_frame;
  result["total_ms_per_frame"] = total;
  result["fps"] = 1000.0 / total;
  result["realtime_factor"] = 40.0 / total;  // 25 fps: 40 ms per frame
  return result;
}

}  // namespace tavce::bench
