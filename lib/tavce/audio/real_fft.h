// Double-precision FFT of a real frame, for the STFT of the audio front end.
// Mixed radix (2, 3, 4, 5 and generic factors), twiddles precomputed once per size.
#pragma once

#include <complex>
#include <vector>

namespace tavce::audio {

class RealFft {
 public:
  explicit RealFft(int n);  // n must be even
  int size() const { return n_; }
  // spectrum[k] for k = 0..n/2 of the real input x[0..n).
  void forward(const double* x, std::complex<double>* spectrum);

 private:
  void complex_fft(const std::complex<double>* in, std::complex<double>* out, int n, int stride,
                   const int* factors) const;
  int n_;
  int half_;
  std::vector<int> factors_;                // factorisation of half_
  std::vector<std::complex<double>> twiddles_;       // exp(-2*pi*i*k/half)
  std::vector<std::complex<double>> post_twiddles_;  // exp(-2*pi*i*k/n), k < n/2
  std::vector<std::complex<double>> packed_, work_;
};

}  // namespace tavce::audio
