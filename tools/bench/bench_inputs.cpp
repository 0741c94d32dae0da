#include "bench/bench_inputs.h"

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>

#include "tavce/error.h"

namespace fs = std::filesystem;

namespace tavce::bench {

namespace {

std::string shared_file(const std::string& relative) {
  std::vector<std::string> roots;
  if (const char* d = std::getenv("TAVCE_SHARED_DIR")) roots.emplace_back(d);
  roots.insert(roots.end(), {"../shared", "../../shared"});
  for (const auto& r : roots)
    if (fs::is_regular_file(fs::path(r) / relative)) return (fs::path(r) / relative).string();
  return "";
}

}  // namespace

std::string bench_portrait(const tools::Args& args) {
  if (args.has("portrait")) return args.get("portrait", "");
  const char* astronaut = "/usr/lib/python3/dist-packages/imageio/resources/images/astronaut.png";
  if (fs::is_regular_file(astronaut)) return astronaut;
  const std::string people = shared_file("data/image/people_0.png");
  if (people.empty()) throw Error("no default portrait found: give --portrait PATH");
  return people;
}

BenchAudio bench_audio(const tools::Args& args, size_t samples) {
  BenchAudio a;
  std::string from = args.get("audio", "");
  const bool synthetic = from == "synthetic";
  if (from.empty()) from = shared_file("data/audio/news_eng_60s.wav");
  if (!from.empty() && !synthetic) {
    a.samples = read_wav16k(from);
    if (args.has("loop-audio") && !a.samples.empty()) {
      const size_t n = a.samples.size();
      a.samples.resize(std::max(samples, n));
      for (size_t i = n; i < a.samples.size(); ++i) a.samples[i] = a.samples[i - n];
      from += " (looped)";
    }
    if (a.samples.size() < samples)
      throw Error("'" + from + "' holds " + std::to_string(a.samples.size()) + " samples; the bench needs " +
                  std::to_string(samples));
    a.samples.resize(samples);
    a.source = from;
    return a;
  }
  // A 140 Hz pulse-like tone with a 4 Hz syllable envelope plus noise.
  std::mt19937 rng(1);
  std::normal_distribution<float> noise(0.0f, 0.02f);
  a.samples.resize(samples);
  for (size_t i = 0; i < samples; ++i) {
    const double t = double(i) / 16000.0;
    const double env = 0.5 * (1 - std::cos(2 * M_PI * 4 * t));
    a.samples[i] =
        static_cast<float>(0.2 * env * std::sin(2 * M_PI * 140 * t) * (1 + 0.5 * std::sin(2 * M_PI * 420 * t))) +
        noise(rng);
  }
  a.source = synthetic ? "synthetic (--audio synthetic)" : "synthetic (no speech file found; give --audio PATH)";
  return a;
}

std::vector<float> read_wav16k(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("cannot open the audio file '" + path + "'");
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto u32 = [&](size_t at) {
    uint32_t v = 0;
    for (int k = 3; k >= 0; --k) v = (v << 8) | static_cast<uint8_t>(bytes[at + k]);
    return v;
  };
  auto u16 = [&](size_t at) { return static_cast<uint16_t>(static_cast<uint8_t>(bytes[at]) | (static_cast<uint8_t>(bytes[at + 1]) << 8)); };
  if (bytes.size() < 12 || std::memcmp(bytes.data(), "RIFF", 4) != 0 || std::memcmp(bytes.data() + 8, "WAVE", 4) != 0)
    throw Error("'" + path + "' is not a RIFF/WAVE file");
  int channels = 0, bits = 0, format = 0;
  uint32_t rate = 0;
  for (size_t at = 12; at + 8 <= bytes.size();) {
    const std::string id(bytes.data() + at, 4);
    const uint32_t len = u32(at + 4);
    const size_t body = at + 8;
    if (id == "fmt " && body + 16 <= bytes.size()) {
      format = u16(body);
      channels = u16(body + 2);
      rate = u32(body + 4);
      bits = u16(body + 14);
    } else if (id == "data") {
      if (format != 1 || bits != 16 || channels < 1)
        throw Error("'" + path + "': only 16-bit PCM WAV is supported here (format " + std::to_string(format) +
                    ", " + std::to_string(bits) + " bits)");
      if (rate != 16000)
        throw Error("'" + path + "' is sampled at " + std::to_string(rate) + " Hz; the bench needs 16 kHz");
      const size_t n = std::min<size_t>(len, bytes.size() - body) / (2 * channels);
      std::vector<float> out(n);
      for (size_t i = 0; i < n; ++i) {
        double s = 0;
        for (int c = 0; c < channels; ++c) s += static_cast<int16_t>(u16(body + 2 * (i * channels + c)));
        out[i] = static_cast<float>(s / channels / 32768.0);
      }
      return out;
    }
    at = body + len + (len & 1);
  }
  throw Error("'" + path + "' has no data chunk");
}


}  // namespace tavce::bench
