// tavce-bench lite: the lite family's whole render path as the elements run
// it (Audio2CoeffSession and RendererSession on a lite bundle), on real
// speech and a real portrait:
//   once       session start-up (bundle load), source preparation (face
//              detection, landmarks, mesh, mouth interior) on a cold cache;
//   per frame  mel front end, audio network, renderer (warp + interior),
//              timed over the whole clip.
// Plus the bundle's size on disk. Peak RSS is added by main.cpp. A long run
// (--seconds 3600 --rss-every 60, the audio looped with --loop-audio) samples
// the resident memory every minute of audio: it must stay flat.
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>

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

namespace {

// Resident set size now (not the peak), MiB.
double current_rss_mib() {
  std::ifstream statm("/proc/self/statm");
  long pages = 0, resident = 0;
  statm >> pages >> resident;
  return static_cast<double>(resident) * static_cast<double>(sysconf(_SC_PAGESIZE)) / (1024.0 * 1024.0);
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

  // Streamed as the elements run: one video frame of audio (640 samples) at
  // a time through the mel front end, the audio network and the renderer,
  // nothing kept but counters, so a long run shows whether memory stays
  // flat. Resident memory is sampled every --rss-every seconds of audio.
  audio::MelSpectrogram mel;
  std::vector<float> mels;
  double mel_ms = 0, a2c_ms = 0, render_ms = 0;
  int64_t frames = 0;
  int width = 0, height = 0;
  auto render_rows = [&](std::vector<std::vector<float>> rows) {
    const auto t = Clock::now();
    for (const auto& r : rows) {
      renderer.push(r.data(), static_cast<int64_t>(r.size()));
      for (const auto& f : renderer.pop_ready()) ++frames, width = f.image.width, height = f.image.height;
    }
    render_ms += ms_since(t);
  };
  const double rss_every = args.get_double("rss-every", 0.0);
  nlohmann::json rss = nlohmann::json::array();
  double next_sample = rss_every;
  for (size_t at = 0; at < input.samples.size(); at += 640) {
    auto t = Clock::now();
    mels.clear();
    mel.push(input.samples.data() + at, std::min<size_t>(640, input.samples.size() - at), mels);
    mel_ms += ms_since(t);
    t = Clock::now();
    a2c.push_mel(mels.data(), static_cast<int64_t>(mels.size()) / mel.n_mels());
    auto rows = a2c.pop_ready();
    a2c_ms += ms_since(t);
    render_rows(std::move(rows));
    const double audio_s = static_cast<double>(at + 640) / 16000.0;
    if (rss_every > 0 && audio_s >= next_sample) {
      rss.push_back({{"audio_s", audio_s}, {"rss_mib", current_rss_mib()}, {"frames", frames}});
      next_sample += rss_every;
    }
  }
  mels.clear();
  mel.finish(mels);
  a2c.push_mel(mels.data(), static_cast<int64_t>(mels.size()) / mel.n_mels());
  a2c.finish();
  render_rows(a2c.pop_ready());
  renderer.finish();
  for (const auto& f : renderer.pop_ready()) ++frames, width = f.image.width, height = f.image.height;
  if (frames == 0) throw Error("the renderer produced no frames");
  if (!rss.empty()) {
    result["rss_series"] = rss;
    const double first = rss.front()["rss_mib"].get<double>(), last = rss.back()["rss_mib"].get<double>();
    result["rss_growth_after_first_sample"] = (last - first) / first;
  }
  result["expected_frames"] = static_cast<int64_t>(input.samples.size() / 640);

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
