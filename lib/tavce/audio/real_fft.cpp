#include "tavce/audio/real_fft.h"

#include <cmath>

#include "tavce/error.h"

namespace tavce::audio {
namespace {

using cplx = std::complex<double>;

// Plain complex product: std::complex's operator* goes through __muldc3 for
// IEEE inf/nan handling, which costs several times more and buys nothing here.
inline cplx mul(const cplx& a, const cplx& b) {
  return cplx(a.real() * b.real() - a.imag() * b.imag(), a.real() * b.imag() + a.imag() * b.real());
}

// Radix 4 first (fewest multiplications), then 2, then odd primes.
std::vector<int> factorise(int n) {
  std::vector<int> factors;
  while (n % 4 == 0) { factors.push_back(4); n /= 4; }
  while (n % 2 == 0) { factors.push_back(2); n /= 2; }
  for (int p = 3; n > 1; p += 2) {
    while (n % p == 0) { factors.push_back(p); n /= p; }
    if (p * p > n && n > 1) { factors.push_back(n); n = 1; }
  }
  return factors;
}

}  // namespace

RealFft::RealFft(int n) : n_(n), half_(n / 2) {
  if (n < 2 || n % 2 != 0) throw Error("RealFft: size must be even and >= 2, got " + std::to_string(n));
  factors_ = factorise(half_);
  if (factors_.empty()) factors_.push_back(1);
  twiddles_.resize(half_);
  for (int k = 0; k < half_; ++k) twiddles_[k] = std::polar(1.0, -2.0 * M_PI * k / half_);
  post_twiddles_.resize(half_ + 1);
  for (int k = 0; k <= half_; ++k) post_twiddles_[k] = std::polar(1.0, -2.0 * M_PI * k / n_);
  packed_.resize(half_);
  work_.resize(half_);
}

// Recursive decimation in time: out[0..n) = DFT_n of in[0], in[stride], ...
// Twiddles for this level are W_n^j = twiddles_[j * stride] because n * stride = half_.
void RealFft::complex_fft(const cplx* in, cplx* out, int n, int stride, const int* factors) const {
  const int p = factors[0];
  const int m = n / p;
  if (m == 1) {
    for (int j = 0; j < p; ++j) out[j] = in[j * stride];
  } else {
    for (int q = 0; q < p; ++q) complex_fft(in + q * stride, out + q * m, m, stride * p, factors + 1);
  }
  if (p == 1) return;
  if (p == 2) {
    for (int k = 0; k < m; ++k) {
      const cplx a = out[k];
      const cplx b = mul(out[k + m], twiddles_[k * stride]);
      out[k] = a + b;
      out[k + m] = a - b;
    }
    return;
  }
  if (p == 4) {
    for (int k = 0; k < m; ++k) {
      const cplx a0 = out[k];
      const cplx a1 = mul(out[k + m], twiddles_[k * stride]);
      const cplx a2 = mul(out[k + 2 * m], twiddles_[2 * k * stride]);
      const cplx a3 = mul(out[k + 3 * m], twiddles_[3 * k * stride]);
      const cplx s02 = a0 + a2, d02 = a0 - a2, s13 = a1 + a3, d13 = a1 - a3;
      const cplx d13_mi(d13.imag(), -d13.real());  // -i * d13
      out[k] = s02 + s13;
      out[k + m] = d02 + d13_mi;
      out[k + 2 * m] = s02 - s13;
      out[k + 3 * m] = d02 - d13_mi;
    }
    return;
  }
  if (p == 5) {
    // 800-point frames give 400 = 4*4*5*5: a dedicated radix-5 butterfly
    // (4 real multiplications per output pair instead of a 5x5 product).
    const double c1 = std::cos(2 * M_PI / 5), c2 = std::cos(4 * M_PI / 5);
    const double s1 = std::sin(2 * M_PI / 5), s2 = std::sin(4 * M_PI / 5);
    for (int k = 0; k < m; ++k) {
      const cplx t0 = out[k];
      const cplx t1 = mul(out[k + m], twiddles_[k * stride]);
      const cplx t2 = mul(out[k + 2 * m], twiddles_[2 * k * stride]);
      const cplx t3 = mul(out[k + 3 * m], twiddles_[3 * k * stride]);
      const cplx t4 = mul(out[k + 4 * m], twiddles_[4 * k * stride]);
      const cplx a1 = t1 + t4, a2 = t2 + t3, b1 = t1 - t4, b2 = t2 - t3;
      const cplx r1 = t0 + c1 * a1 + c2 * a2;
      const cplx r2 = t0 + c2 * a1 + c1 * a2;
      const cplx i1 = s1 * b1 + s2 * b2;
      const cplx i2 = s2 * b1 - s1 * b2;
      out[k] = t0 + a1 + a2;
      out[k + m] = cplx(r1.real() + i1.imag(), r1.imag() - i1.real());      // r1 - i*i1
      out[k + 4 * m] = cplx(r1.real() - i1.imag(), r1.imag() + i1.real());  // r1 + i*i1
      out[k + 2 * m] = cplx(r2.real() + i2.imag(), r2.imag() - i2.real());
      out[k + 3 * m] = cplx(r2.real() - i2.imag(), r2.imag() + i2.real());
    }
    return;
  }
  // Generic odd radix: a direct p-point DFT per butterfly. W_p = W_half^(half/p).
  const int root_step = half_ / p;
  cplx scratch[64];
  std::vector<cplx> big;
  cplx* t = scratch;
  if (p > 64) { big.resize(p); t = big.data(); }
  for (int k = 0; k < m; ++k) {
    for (int q = 0; q < p; ++q) t[q] = mul(out[k + q * m], twiddles_[q * k * stride]);
    for (int s = 0; s < p; ++s) {
      cplx acc = t[0];
      int rot = 0;  // (q * s) mod p, advanced incrementally
      for (int q = 1; q < p; ++q) {
        rot += s;
        if (rot >= p) rot -= p;
        acc += mul(t[q], twiddles_[rot * root_step]);
      }
      out[k + s * m] = acc;
    }
  }
}

void RealFft::forward(const double* x, cplx* spectrum) {
  // Pack even/odd samples into one complex signal of half the length, then
  // separate the two spectra: X[k] = E[k] + W_n^k O[k].
  for (int j = 0; j < half_; ++j) packed_[j] = cplx(x[2 * j], x[2 * j + 1]);
  complex_fft(packed_.data(), work_.data(), half_, 1, factors_.data());
  // k = 0 and k = half: E and O are real, W^0 = 1 and W^half = -1.
  const double z0r = work_[0].real(), z0i = work_[0].imag();
  spectrum[0] = cplx(z0r + z0i, 0.0);
  spectrum[half_] = cplx(z0r - z0i, 0.0);
  for (int k = 1; k < half_; ++k) {
    const cplx zk = work_[k];
    const cplx zc = std::conj(work_[half_ - k]);
    const double er = 0.5 * (zk.real() + zc.real()), ei = 0.5 * (zk.imag() + zc.imag());
    const double dr = 0.5 * (zk.real() - zc.real()), di = 0.5 * (zk.imag() - zc.imag());
    // odd = -i * diff = (di, -dr)
    const cplx odd_tw = mul(post_twiddles_[k], cplx(di, -dr));
    spectrum[k] = cplx(er + odd_tw.real(), ei + odd_tw.imag());
  }
}

}  // namespace tavce::audio
