// The audio/x-tavce-mel caps, built from and parsed back into a MelConfig.
//
// One place defines the field names so that the producer (tavcemelspec) and
// every consumer (tavceaudio2coeff, tavcesyncscore, ...) agree: a front end
// with other parameters yields caps that fail to intersect at link time
// instead of silently feeding a network the wrong features. docs/caps.md is
// the user-facing specification of these fields.
#pragma once

#include <gst/gst.h>

#include <cmath>
#include <numeric>
#include <string>

#include "tavce/audio/mel_config.h"

namespace tavce::gst {

inline constexpr const char* kMelMediaType = "audio/x-tavce-mel";

// Name of the dB + symmetric normalisation. The reference front end (floor
// -100 dB, reference level 20 dB, range [-4, 4]) is "sadtalker-db-symmetric4";
// any other parameters are spelled out so that different features never share
// a name.
inline std::string mel_norm_name(const audio::MelConfig& cfg) {
  gchar range[G_ASCII_DTOSTR_BUF_SIZE];
  g_ascii_formatd(range, sizeof range, "%g", cfg.max_abs_value);
  if (cfg.min_level_db == -100.0 && cfg.ref_level_db == 20.0)
    return std::string("sadtalker-db-symmetric") + range;
  gchar lo[G_ASCII_DTOSTR_BUF_SIZE], ref[G_ASCII_DTOSTR_BUF_SIZE];
  g_ascii_formatd(lo, sizeof lo, "%g", cfg.min_level_db);
  g_ascii_formatd(ref, sizeof ref, "%g", cfg.ref_level_db);
  return std::string("db-symmetric") + range + "-min" + lo + "-ref" + ref;
}

// Fixed caps describing exactly what a MelSpectrogram with this config emits.
inline GstCaps* mel_caps_new(const audio::MelConfig& cfg) {
  // The frame rate is sample_rate / hop, kept as an exact fraction.
  const int g = std::gcd(cfg.sample_rate, cfg.hop);
  const std::string norm = mel_norm_name(cfg);
  return gst_caps_new_simple(kMelMediaType,
      "sample-rate", G_TYPE_INT, cfg.sample_rate,
      "n-mels", G_TYPE_INT, cfg.n_mels,
      "n-fft", G_TYPE_INT, cfg.n_fft,
      "hop", G_TYPE_INT, cfg.hop,
      "win", G_TYPE_INT, cfg.win,
      "fmin", G_TYPE_DOUBLE, cfg.fmin,
      "fmax", G_TYPE_DOUBLE, cfg.fmax,
      "preemphasis", G_TYPE_DOUBLE, cfg.preemphasis,
      "norm", G_TYPE_STRING, norm.c_str(),
      "rate", GST_TYPE_FRACTION, cfg.sample_rate / g, cfg.hop / g,
      "format", G_TYPE_STRING, "F32LE",
      nullptr);
}

// Reads fixed mel caps back into a MelConfig. Returns false (and says why in
// *why when given) if a field is missing or the payload is not what
// mel_caps_new() describes; consumers turn that into an element error.
inline bool mel_caps_to_config(const GstCaps* caps, audio::MelConfig* cfg, std::string* why = nullptr) {
  auto fail = [why](const std::string& msg) {
    if (why) *why = msg;
    return false;
  };
  if (!caps || gst_caps_get_size(caps) != 1 || !gst_caps_is_fixed(caps))
    return fail("mel caps must be fixed and hold one structure");
  const GstStructure* s = gst_caps_get_structure(caps, 0);
  if (!gst_structure_has_name(s, kMelMediaType))
    return fail(std::string("expected ") + kMelMediaType + ", got " + gst_structure_get_name(s));
  audio::MelConfig c;
  if (!gst_structure_get_int(s, "sample-rate", &c.sample_rate) ||
      !gst_structure_get_int(s, "n-mels", &c.n_mels) ||
      !gst_structure_get_int(s, "n-fft", &c.n_fft) ||
      !gst_structure_get_int(s, "hop", &c.hop) ||
      !gst_structure_get_int(s, "win", &c.win) ||
      !gst_structure_get_double(s, "fmin", &c.fmin) ||
      !gst_structure_get_double(s, "fmax", &c.fmax) ||
      !gst_structure_get_double(s, "preemphasis", &c.preemphasis))
    return fail("mel caps lack one of sample-rate, n-mels, n-fft, hop, win (int) "
                "or fmin, fmax, preemphasis (double)");
  if (c.sample_rate <= 0 || c.n_mels <= 0 || c.hop <= 0 || c.n_fft <= 0 || c.win <= 0)
    return fail("mel caps hold a non-positive size or rate");
  const char* format = gst_structure_get_string(s, "format");
  if (!format || g_strcmp0(format, "F32LE") != 0)
    return fail("mel payload format must be F32LE");
  // Only the names mel_caps_new() can produce for the reference levels are
  // understood; anything else is a front end this code cannot reproduce.
  const char* norm = gst_structure_get_string(s, "norm");
  const std::string prefix = "sadtalker-db-symmetric";
  if (!norm || std::string(norm).rfind(prefix, 0) != 0)
    return fail(std::string("unknown mel normalisation '") + (norm ? norm : "(none)") + "'");
  gchar* end = nullptr;
  const double range = g_ascii_strtod(norm + prefix.size(), &end);
  if (end == norm + prefix.size() || *end != '\0' || !(range > 0.0))
    return fail(std::string("unknown mel normalisation '") + norm + "'");
  c.max_abs_value = range;
  int num = 0, den = 0;
  if (!gst_structure_get_fraction(s, "rate", &num, &den) || den <= 0 ||
      static_cast<gint64>(num) * c.hop != static_cast<gint64>(den) * c.sample_rate)
    return fail("mel caps 'rate' must equal sample-rate / hop");
  *cfg = c;
  return true;
}

}  // namespace tavce::gst
