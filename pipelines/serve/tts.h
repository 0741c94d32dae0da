// Text to speech for POST /avatars/NAME/say: espeak-ng (libespeak-ng) in
// synchronous mode. The library keeps global state, so one synthesis runs at
// a time (a process-wide lock); callers run it off the main loop.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "audio_input.h"

struct TtsError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Speaks `text` (UTF-8) with the espeak-ng voice `voice` (e.g. "en-us").
// Returns mono S16 at espeak-ng's rate, as a clip for to_speech_samples().
PcmClip synthesize_speech(const std::string& text, const std::string& voice);
