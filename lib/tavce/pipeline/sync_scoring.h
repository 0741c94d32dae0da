// LSE-D / LSE-C of one stretch of video and audio, as syncnet_python's
// SyncNetInstance.evaluate computes them on a clip: E five-frame lip windows
// and 20-step MFCC windows (E = min(frames, floor(samples / 640)) - 5, the
// reference's count, one short of what would fit), SyncNet embeddings in batches, then
// metrics::evaluate_lse over offsets -vshift .. +vshift.
//
// Shared by the tavcesyncscore session and the SyncNet training tools, so the
// evaluation table in docs/evaluation.md is computed by the element's code.
#pragma once

#include <cstddef>
#include <cstdint>

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include "tavce/metrics/lse.h"

namespace tavce::nn {
struct SyncNetImpl;
}

namespace tavce::pipeline {

// crops: (T, 224, 224, 3) uint8 BGR, one per 25 fps frame. Windows
// v .. v+4 for v < count -> (count, fc) float embeddings on the CPU.
at::Tensor sync_lip_embeddings(nn::SyncNetImpl& net, const at::Tensor& crops, int64_t count, int batch,
                               c10::Device device);
// int16-scale 16 kHz samples -> MFCC -> (count, fc) float embeddings on the CPU.
at::Tensor sync_audio_embeddings(nn::SyncNetImpl& net, const float* audio, size_t samples, int64_t count, int batch,
                                 c10::Device device);

struct SyncScore {
  int64_t embeddings = 0;  // windows in the distance curve; 0 = too short to score
  metrics::LseResult lse;
};
// Scores crops against their audio (runs under InferenceMode; the network
// must be in eval mode). Returns embeddings = 0 when E < 1.
SyncScore score_sync(nn::SyncNetImpl& net, const at::Tensor& crops, const float* audio, size_t samples, int vshift,
                     int batch, c10::Device device);

}  // namespace tavce::pipeline
