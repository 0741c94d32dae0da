// Slaney-style mel filterbank and analysis window, computed exactly as
// librosa 0.9.2 does it (float64 maths, float32 weights).
#pragma once

#include <vector>

#include "tavce/audio/mel_config.h"

namespace tavce::audio {

// (n_mels x n_freq) row-major, float32 like librosa.filters.mel's default dtype.
std::vector<float> slaney_mel_basis(const MelConfig& cfg);

// Periodic Hann window of length n (scipy get_window('hann', n, fftbins=True)).
std::vector<double> periodic_hann(int n);

// The basis stored sparsely: each filter is non-zero on one contiguous bin range.
struct SparseMelBasis {
  struct Filter {
    int first_bin = 0;
    std::vector<double> weights;  // float32 basis values widened to double
  };
  std::vector<Filter> filters;

  explicit SparseMelBasis(const std::vector<float>& dense, int n_mels, int n_freq);
  // mel[i] = sum_k basis[i][k] * magnitude[k]
  void apply(const double* magnitude, double* mel) const;
};

}  // namespace tavce::audio
