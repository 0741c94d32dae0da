// Savitzky-Golay smoothing along time, as SadTalker applies it to the head pose
// (src/test_audio2coeff.py: scipy.signal.savgol_filter(pose, window, 2, axis=time)
// with scipy's default mode='interp'; reference-architecture §1.1 step 13).
//
// mode='interp' means:
//   - rows h .. T-1-h (h = window/2): the least-squares polynomial of the
//     window centred on the row, evaluated at the centre; that is a fixed
//     correlation with scipy.signal.savgol_coeffs(window, polyorder);
//   - the first / last h rows: the values, at those positions, of ONE
//     polynomial fitted to the first / last `window` samples (not a padded
//     convolution). This edge rule is where ports usually go wrong.
// Computed in double (scipy fits in float64), stored as float like the float32
// array the reference smooths. Torch-free.
#pragma once

#include <cstdint>
#include <vector>

namespace tavce::coeffs {

constexpr int kSavgolPolyorder = 2;
constexpr int kSavgolMaxWindow = 13;

// The reference's window for a clip of T frames: 13 if T >= 13, else
// int((T-1)/2)*2+1, the largest odd window <= T. For T < 3 that gives 1, with
// which the reference itself raises (scipy needs polyorder < window), and for
// T = 0 it gives 1 as well (Python's int() truncates -0.5 to 0). We return the
// same numbers; savgol_filter treats any window <= polyorder as "no smoothing"
// (identity), which is what a 1-tap filter would be.
int savgol_window_for(int64_t frames);

// Weights w[j], j = 0..window-1, such that sum_j w[j] * x[j] is the value at
// abscissa `pos` (0 = first sample of the window) of the degree-`polyorder`
// least-squares polynomial through (j, x[j]). pos = window/2 gives scipy's
// savgol_coeffs(window, polyorder) (symmetric). Throws tavce::Error unless
// 0 <= polyorder < window.
std::vector<double> savgol_fit_weights(int window, int polyorder, double pos);

// Output row t (C channels) of the mode='interp' filter of a (T, C)
// row-major array. Reads only the rows that row depends on: t-h..t+h for a
// centre row, the first `window` rows for t < h, the last `window` rows for
// t > T-1-h. That lets a streaming caller compute head and centre rows before
// it knows T (pass the number of rows it has; a row t < T_avail - h is a head
// or centre row and does not depend on later rows). window <= polyorder
// copies the input row.
void savgol_row(const float* x, int64_t frames, int64_t channels, int window, int64_t t, float* out,
                int polyorder = kSavgolPolyorder);

// The whole filter: out (T, C) = savgol_filter(x, window, polyorder, axis=0,
// mode='interp'). Requires window <= T when window > polyorder (as scipy).
// in and out may not alias.
void savgol_filter(const float* x, int64_t frames, int64_t channels, int window, float* out,
                   int polyorder = kSavgolPolyorder);

}  // namespace tavce::coeffs
