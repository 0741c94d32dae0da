// libFuzzer target: the streaming mel front end (lib/tavce/audio) on arbitrary
// sample buffers (up to half a second) cut into arbitrary chunks, as float (any bit pattern: NaN,
// infinities, denormals) and as int16. Checks what the element relies on:
// the frame count matches total_frames() and chunking never changes the
// output (compared bit for bit, NaN included, against one whole push).
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "tavce/audio/mel_spectrogram.h"
#include "tavce/error.h"

using tavce::audio::MelConfig;
using tavce::audio::MelSpectrogram;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const bool as_int16 = data[0] & 1;
  const uint8_t chunk_seed = data[1];
  data += 2;
  size -= 2;
  // At most half a second of audio, so one input stays fast.
  const size_t esize = as_int16 ? 2 : 4;
  const size_t n = std::min<size_t>(size / esize, 8000);
  const MelConfig cfg;
  MelSpectrogram whole(cfg), chunked(cfg);
  std::vector<float> out_whole, out_chunked;
  std::vector<float> f(n);
  std::vector<int16_t> s(n);
  if (n > 0 && as_int16) std::memcpy(s.data(), data, n * 2);
  if (n > 0 && !as_int16) std::memcpy(f.data(), data, n * 4);

  auto push = [&](MelSpectrogram& m, size_t from, size_t count, std::vector<float>& out) {
    return as_int16 ? m.push(s.data() + from, count, out) : m.push(f.data() + from, count, out);
  };
  push(whole, 0, n, out_whole);
  whole.finish(out_whole);
  // Chunk lengths from a small generator seeded by the input: 0 .. 1100 samples.
  uint32_t state = chunk_seed * 2654435761u + 1;
  for (size_t pos = 0; pos < n;) {
    state = state * 1664525u + 1013904223u;
    const size_t len = std::min<size_t>(n - pos, (state >> 16) % 1101);
    push(chunked, pos, len, out_chunked);
    pos += len;
  }
  chunked.finish(out_chunked);
  const uint64_t frames = MelSpectrogram::total_frames(n, cfg);
  if (out_whole.size() != frames * cfg.n_mels) __builtin_trap();
  if (out_chunked.size() != out_whole.size()) __builtin_trap();
  if (!out_whole.empty() &&
      std::memcmp(out_chunked.data(), out_whole.data(), out_whole.size() * sizeof(float)) != 0)
    __builtin_trap();
  return 0;
}
