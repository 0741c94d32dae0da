// Streaming mel front end throughput: audio seconds processed per wall second.
#include <time.h>

#include <chrono>
#include <random>
#include <vector>

#include "bench/bench.h"
#include "tavce/audio/mel_spectrogram.h"

namespace tavce::bench {

nlohmann::json bench_mel(const tools::Args& args) {
  const double seconds = args.get_double("seconds", 60.0);
  const int chunk = args.get_int("chunk", 1024);
  const int repeat = args.get_int("repeat", 5);
  audio::MelSpectrogram mel;
  const size_t n = size_t(seconds * mel.config().sample_rate);

  // Speech-like level noise: the cost does not depend on the content.
  std::mt19937 rng(1);
  std::normal_distribution<float> dist(0.0f, 0.1f);
  std::vector<float> audio(n);
  for (float& s : audio) s = dist(rng);

  std::vector<float> out;
  out.reserve((n / mel.config().hop + 2) * mel.n_mels());
  // Wall time is what the target is about; thread CPU time is printed too
  // because it is far less sensitive to other load on a shared machine.
  auto cpu_now = [] {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
  };
  double best = 1e30, best_cpu = 1e30;
  size_t frames = 0;
  for (int r = 0; r < repeat; ++r) {
    out.clear();
    const auto t0 = std::chrono::steady_clock::now();
    const double c0 = cpu_now();
    for (size_t at = 0; at < n; at += chunk) mel.push(audio.data() + at, std::min<size_t>(chunk, n - at), out);
    mel.finish(out);
    best_cpu = std::min(best_cpu, cpu_now() - c0);
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    frames = out.size() / mel.n_mels();
  }
  return {{"bench", "mel"},
          {"threads", 1},
          {"audio_seconds", seconds},
          {"chunk_samples", chunk},
          {"repeat", repeat},
          {"mel_frames", frames},
          {"best_wall_seconds", best},
          {"best_cpu_seconds", best_cpu},
          {"cpu_realtime_factor", seconds / best_cpu},
          {"us_per_mel_frame", best * 1e6 / double(frames)},
          {"realtime_factor", seconds / best}};
}

}  // namespace tavce::bench
