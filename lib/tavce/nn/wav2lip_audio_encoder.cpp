#include "tavce/nn/wav2lip_audio_encoder.h"

#include <string>

#include <ATen/ATen.h>

#include "tavce/error.h"

namespace tavce::nn {
namespace {

struct BlockSpec {
  int64_t cin, cout, kh, kw, sh, sw, ph, pw;
  bool residual;
};

// reference-architecture §3.2, shapes for an 80x16 input in the comments.
constexpr BlockSpec kBlocks[] = {
    {1, 32, 3, 3, 1, 1, 1, 1, false},     // 0: 32x80x16
    {32, 32, 3, 3, 1, 1, 1, 1, true},     // 1
    {32, 32, 3, 3, 1, 1, 1, 1, true},     // 2
    {32, 64, 3, 3, 3, 1, 1, 1, false},    // 3: 64x27x16
    {64, 64, 3, 3, 1, 1, 1, 1, true},     // 4
    {64, 64, 3, 3, 1, 1, 1, 1, true},     // 5
    {64, 128, 3, 3, 3, 3, 1, 1, false},   // 6: 128x9x6
    {128, 128, 3, 3, 1, 1, 1, 1, true},   // 7
    {128, 128, 3, 3, 1, 1, 1, 1, true},   // 8
    {128, 256, 3, 3, 3, 2, 1, 1, false},  // 9: 256x3x3
    {256, 256, 3, 3, 1, 1, 1, 1, true},   // 10
    {256, 512, 3, 3, 1, 1, 0, 0, false},  // 11: 512x1x1
    {512, 512, 1, 1, 1, 1, 0, 0, false},  // 12: 512x1x1
};

}  // namespace

Wav2LipAudioEncoderImpl::Wav2LipAudioEncoderImpl() {
  int64_t i = 0;
  for (const BlockSpec& b : kBlocks) {
    blocks.push_back(register_module(
        std::to_string(i++),
        W2LConv(b.cin, b.cout, torch::ExpandingArray<2>({b.kh, b.kw}), torch::ExpandingArray<2>({b.sh, b.sw}),
                torch::ExpandingArray<2>({b.ph, b.pw}), b.residual)));
  }
}

at::Tensor Wav2LipAudioEncoderImpl::forward(const at::Tensor& x) {
  if (x.dim() != 4 || x.size(1) != 1 || x.size(2) != kMels || x.size(3) != kSteps)
    throw Error("wav2lip audio encoder: expected mel windows of shape (N, 1, 80, 16), got " +
                std::string(c10::str(x.sizes())));
  at::Tensor y = x;
  for (auto& block : blocks) y = block->forward(y);
  return y;
}

at::Tensor Wav2LipAudioEncoderImpl::embed(const at::Tensor& x) {
  return forward(x).reshape({x.size(0), kEmbedding});
}

}  // namespace tavce::nn
