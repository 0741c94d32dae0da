// Speech bodies as the HTTP API receives them, turned into what an avatar's
// speech queue holds (48 kHz mono S16). A WAV's header is read here, strictly,
// so that a body that is not a WAV, a truncated one or an unsupported sample
// format gets a sentence saying which; the resampling and downmix are
// GStreamer's (audioconvert, audioresample), run to EOS on the caller's thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

struct AudioInputError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Interleaved PCM in a GStreamer raw format.
struct PcmClip {
  std::string format;  // GstAudioFormat name: U8, S16LE, S24LE, S32LE, F32LE, F64LE
  int rate = 0;
  int channels = 0;
  std::vector<uint8_t> data;
};

// Reads a RIFF/WAVE body (PCM 8/16/24/32-bit, float 32/64, extensible).
PcmClip parse_wav(const uint8_t* body, size_t size);
// Raw S16LE samples as given by ?rate=&channels=.
PcmClip raw_s16le(const uint8_t* body, size_t size, int rate, int channels);
// Downmix and resample to 48 kHz mono S16.
std::vector<int16_t> to_speech_samples(const PcmClip& clip);
