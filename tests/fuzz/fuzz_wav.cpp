// libFuzzer target: tavce-serve's reader of speech bodies
// (pipelines/serve/audio_input.cpp), which takes WAV headers straight from
// HTTP clients. parse_wav either refuses with AudioInputError or returns a
// clip that the converter can trust: a known format, 1-8 channels, a rate in
// range and whole sample frames copied from inside the body. The first byte
// also drives raw_s16le (the ?rate=&channels= path) on the rest.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>

#include "audio_input.h"

namespace {

size_t bytes_per_sample(const std::string& format) {
  if (format == "U8") return 1;
  if (format == "S16LE") return 2;
  if (format == "S24LE") return 3;
  if (format == "S32LE" || format == "F32LE") return 4;
  if (format == "F64LE") return 8;
  std::abort();  // a format the converter was never meant to see
}

void check(const PcmClip& c, const uint8_t* body, size_t size) {
  const size_t frame = bytes_per_sample(c.format) * static_cast<size_t>(c.channels);
  if (c.channels < 1 || c.channels > 8 || c.rate < 1000 || c.rate > 384000) std::abort();
  if (c.data.empty() || c.data.size() % frame != 0 || c.data.size() > size) std::abort();
  // The samples are a copy of bytes of the body.
  if (!memmem(body, size, c.data.data(), c.data.size())) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    check(parse_wav(data, size), data, size);
  } catch (const AudioInputError& e) {
    if (std::strlen(e.what()) == 0) std::abort();
  }
  if (size >= 1) {
    const int channels = data[0] % 10;                // 0..9: out of range at both ends too
    const int rate = (data[0] >> 4) * 30000 - 30000;  // -30000 .. 420000
    try {
      check(raw_s16le(data + 1, size - 1, rate, channels), data + 1, size - 1);
    } catch (const AudioInputError&) {
    }
  }
  return 0;
}
