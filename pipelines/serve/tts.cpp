#include "tts.h"

#include <espeak-ng/speak_lib.h>

#include <cstring>
#include <mutex>

namespace {

std::mutex g_espeak_mutex;
int g_espeak_rate = 0;  // 0: not initialised yet; < 0: initialisation failed

int collect(short* wav, int n, espeak_EVENT* events) {
  if (wav && n > 0 && events) {
    auto* out = static_cast<std::vector<uint8_t>*>(events[0].user_data);
    const auto* p = reinterpret_cast<const uint8_t*>(wav);
    out->insert(out->end(), p, p + 2 * static_cast<size_t>(n));
  }
  return 0;  // continue
}

}  // namespace

PcmClip synthesize_speech(const std::string& text, const std::string& voice) {
  std::lock_guard<std::mutex> lock(g_espeak_mutex);
  if (g_espeak_rate == 0) {
    // DONT_EXIT: a missing data directory must be an error, not exit().
    g_espeak_rate = espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, 0, nullptr, espeakINITIALIZE_DONT_EXIT);
    if (g_espeak_rate <= 0) g_espeak_rate = -1;
    else espeak_SetSynthCallback(collect);
  }
  if (g_espeak_rate < 0) throw TtsError("espeak-ng could not be initialised (is espeak-ng-data installed?)");
  const std::string v = voice.empty() ? "en-us" : voice;
  // A voice name ("English_(Great_Britain)", "gmw/en") or a language ("en-gb").
  espeak_VOICE by_language{};
  by_language.languages = v.c_str();
  if (espeak_SetVoiceByName(v.c_str()) != EE_OK && espeak_SetVoiceByProperties(&by_language) != EE_OK)
    throw TtsError("espeak-ng has no voice '" + v + "' (espeak-ng --voices lists them)");
  std::vector<uint8_t> pcm;
  const espeak_ERROR err = espeak_Synth(text.c_str(), text.size() + 1, 0, POS_CHARACTER, 0, espeakCHARS_UTF8,
                                        nullptr, &pcm);
  if (err != EE_OK) throw TtsError("espeak-ng failed to synthesise the text (error " + std::to_string(err) + ")");
  espeak_Synchronize();
  if (pcm.empty()) throw TtsError("espeak-ng produced no audio for this text");
  PcmClip clip;
  clip.format = "S16LE";
  clip.rate = g_espeak_rate;
  clip.channels = 1;
  clip.data = std::move(pcm);
  return clip;
}
