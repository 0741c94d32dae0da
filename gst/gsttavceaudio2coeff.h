// tavceaudio2coeff: log-mel frames (audio/x-tavce-mel) in, one row of 3DMM
// coefficients per video frame (application/x-tavce-coeffs) out. ExpNet,
// PoseVAE, blinks and smoothing live in tavce::pipeline::Audio2CoeffSession;
// this element maps buffers, timestamps, events, queries and errors onto it.
// See docs/elements/tavceaudio2coeff.md.
#pragma once

#include <gst/gst.h>

#include "tavceenums.h"

G_BEGIN_DECLS

// The preprocess property's enum (GstTavcePreprocess) is shared with
// tavcerenderer: tavceenums.h.

#define GST_TYPE_TAVCE_AUDIO2COEFF (gst_tavce_audio2coeff_get_type())
G_DECLARE_FINAL_TYPE(GstTavceAudio2Coeff, gst_tavce_audio2coeff, GST, TAVCE_AUDIO2COEFF, GstElement)

// Settings and streaming state (C++ objects, defined in the .cpp).
struct GstTavceAudio2CoeffSettings;
struct GstTavceAudio2CoeffState;

struct _GstTavceAudio2Coeff {
  GstElement parent;

  GstPad* sinkpad;
  GstPad* srcpad;

  // Properties, guarded by the object lock; read once in READY->PAUSED.
  GstTavceAudio2CoeffSettings* settings;
  // Everything the streaming thread touches (the session among it).
  GstTavceAudio2CoeffState* state;
};

G_END_DECLS
