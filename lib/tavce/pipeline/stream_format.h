// What travels between tavceaudio2coeff and tavcerenderer for a bundle: the
// coefficient rows, and for a TAVCE bundle the per-frame CERL gate appended
// to each row (the renderer needs the audio correlation of frame j, which
// only the audio side can compute). Both sessions derive it from the bundle
// here, so the two ends of a pipeline always agree.
#pragma once

#include <string>

#include "tavce/models/bundle.h"

namespace tavce::pipeline {

struct StreamFormat {
  int coeff_dims = 70;  // exp 64 + pose 6
  int gate_dims = 0;    // 128 with CERL (TAVCE), else 0
  std::string space;    // caps `space`: the bundle's coefficient space, "+cerl-gate128" with the gate
  int dims() const { return coeff_dims + gate_dims; }
};

// CERL when the bundle has the correlation audio encoder or a fusion generator.
StreamFormat stream_format(const models::Bundle& bundle);

}  // namespace tavce::pipeline
