// Inference-only fast paths for the 3x3 convolutions of the SPADE decoder
// (docs/benchmarks.md). Both compute exactly the same function as at::conv2d
// (up to float rounding) with fewer multiplications:
//
//  * WinogradConv3x3: a 3x3, stride 1, padding 1 convolution with oneDNN's
//    Winograd F(4x4, 3x3) kernel (jit avx512_core), the transformed weights
//    prepared once and cached. Several convolutions of the same input can be
//    evaluated as one (weights concatenated along the output channels).
//  * UpsampledConv3x3: conv3x3(upsample_nearest(x, s)) for an integer s >= 2,
//    computed on the low-resolution x: each of the s*s output phases is a
//    convolution with at most 2x2 (summed) taps, 2.25x (s = 2) or 4x (s = 4)
//    fewer multiplications.
//
// Callers use them only when fast_conv_applicable() says so (CPU, float32,
// nothing to record for autograd); training and CUDA keep at::conv2d. Without
// oneDNN (TAVCE_HAVE_DNNL unset, e.g. a pip/CUDA LibTorch) or on a CPU where
// oneDNN has no Winograd kernel, WinogradConv3x3 falls back to at::conv2d on
// the concatenated weights. The caches key on each parameter's storage and
// version counter, so loading new weights invalidates them.
#pragma once

#include <memory>
#include <vector>

#include <ATen/core/Tensor.h>

namespace tavce::nn {

// True when this build has the oneDNN Winograd kernel compiled in.
bool fast_conv_compiled();

// True when x and the weights may take an inference fast path: x is a
// strided float32 CPU tensor, no autograd graph would be recorded, and the
// fast paths are not disabled with TAVCE_FAST_CONV=0 in the environment.
bool fast_conv_applicable(const at::Tensor& x, const at::Tensor& weight);

// Conv2d parameters of one convolution: weight (K, C, kh, kw), bias (K) or undefined.
struct ConvParams {
  at::Tensor weight, bias;
};

class WinogradConv3x3 {
 public:
  WinogradConv3x3();
  ~WinogradConv3x3();
  // x: (N, C, H, W). Returns the channel concatenation of conv2d(x, w_i, b_i,
  // stride 1, padding 1) over convs, (N, sum K_i, H, W), contiguous.
  at::Tensor forward(const at::Tensor& x, const std::vector<ConvParams>& convs);
  // Whether the last forward ran the Winograd kernel (false: at::conv2d).
  bool used_winograd() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

class UpsampledConv3x3 {
 public:
  UpsampledConv3x3();
  ~UpsampledConv3x3();
  // Equals the channel concatenation of conv2d(upsample_nearest2d(x, (s*H, s*W)),
  // w_i, b_i, stride 1, padding 1) over convs, for integer s >= 1 (s = 1: a plain
  // conv). x: (N, C, H, W); the result is (N, sum K_i, s*H, s*W), contiguous.
  // relu: apply a ReLU to the result (fused into the phase interleave).
  at::Tensor forward(const at::Tensor& x, int64_t s, const std::vector<ConvParams>& convs, bool relu = false);

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace tavce::nn
