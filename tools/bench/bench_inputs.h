// Inputs the benches share: a portrait and 16 kHz speech.
#pragma once

#include <string>
#include <vector>

#include "common/cli.h"

namespace tavce::bench {

// --portrait PATH, else the demo's astronaut (python3-imageio), else
// people_0.png from the shared data ($TAVCE_SHARED_DIR, ../shared or ../../shared).
std::string bench_portrait(const tools::Args& args);

struct BenchAudio {
  std::vector<float> samples;  // 16 kHz mono
  std::string source;          // what they are, for the JSON
};

// `samples` samples of --audio WAV (16 kHz 16-bit PCM), of the shared
// news_eng_60s.wav when none is given, or of a synthetic syllable-rate tone
// with --audio synthetic or when no speech file is found. A WAV shorter than
// `samples` is an error, unless --loop-audio repeats it.
BenchAudio bench_audio(const tools::Args& args, size_t samples);

// 16 kHz mono 16-bit PCM WAV (several channels are averaged), as floats.
std::vector<float> read_wav16k(const std::string& path);

}  // namespace tavce::bench
