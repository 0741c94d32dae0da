// The per-frame animation loop of the face renderer (reference-architecture
// §1.1 steps 17-19, §1.3; SadTalker make_animation.py make_animation and
// animate.py AnimateFromCoeff.generate, TAVCE model.py AnimateModel.test).
//
// The reference recomputes everything per step: KPDetector(source), mapping
// of the source semantics and the generator's source encoder. All three
// depend only on the identity, so prepare_source() runs them once (batch 1)
// and render() does only the per-frame work: MappingNet on the driving
// windows, keypoint transformation, generator render.
#pragma once

#include <cstdint>
#include <map>

#include <ATen/core/Tensor.h>

#include "tavce/nn/kp_detector.h"
#include "tavce/nn/mapping_net.h"
#include "tavce/nn/spade_generator.h"

namespace tavce::render {

// What one identity (source image + source semantics) costs once.
struct SourceState {
  at::Tensor kp_canonical;        // (1, K, 3) KPDetector(source)
  at::Tensor kp_source;           // (1, K, 3) keypoint_transformation(kp_canonical, mapping(source semantics))
  nn::SourceFeatures features;    // generator.encode_source(source), batch 1
  int64_t height = 0, width = 0;  // source image size

  // The batch-1 tensors materialised at a render batch size. expand() alone
  // would be free, but convolutions and grid_sample make strided inputs
  // contiguous again on every call: copying once per batch size avoids a
  // per-frame allocation of the feature volume.
  struct Batched {
    at::Tensor kp_canonical, kp_source;
    nn::SourceFeatures features;
  };
  std::map<int64_t, Batched> batched;
};

// Per-frame optional inputs of a render call, each (B) or (B, ...) aligned
// with the windows.
struct FrameControls {
  at::Tensor yaw_deg, pitch_deg, roll_deg;  // (B) degrees replacing MappingNet's (--input_yaw ...)
  at::Tensor cerl_gate;                     // (B, 128) TAVCE CERL gate (nn::cerl_gate); TAVCE generator only
};

struct FrameBatch {
  at::Tensor prediction;  // (B, 3, H, W) in [0, 1]
  at::Tensor kp_driving;  // (B, K, 3)
};

// Order in which render_clip() batches the frames of a clip.
enum class ClipOrder {
  // Consecutive frames per batch: s..s+B-1 (what a stream produces); the
  // last batch is smaller.
  kConsecutive,
  // The reference's: padded with copies of the last window, batch row b holds
  // frames b*n..b*n+n-1, step t renders {b*n + t}, padded frames dropped.
  kReference,
};

struct ClipOptions {
  int64_t batch_size = 2;  // SadTalker's CLI default
  ClipOrder order = ClipOrder::kConsecutive;
};

// Per-frame controls of a whole clip, each (T) / (T, 128) in time order; the
// reference's (B, n) camera sequences are the same values in batch layout.
using ClipControls = FrameControls;

struct ClipResult {
  at::Tensor frames;      // (T, 3, H, W) in [0, 1], time order
  at::Tensor kp_driving;  // (T, K, 3)
};

class Animator {
 public:
  // The modules as loaded (weights, eval mode); they are shared, not copied.
  Animator(nn::KPDetector kp_detector, nn::OcclusionAwareSpadeGenerator generator, nn::MappingNet mapping);

  // source_image (1, 3, H, W) in [0,1]; source_semantics (1, coeff_nc, 27)
  // (driving.h source_semantics) or (coeff_nc, 27).
  SourceState prepare_source(const at::Tensor& source_image, const at::Tensor& source_semantics);

  // windows (B, coeff_nc, 27) -> B frames. Runs under c10::InferenceMode.
  FrameBatch render(SourceState& state, const at::Tensor& windows, const FrameControls& controls = {});

  // All T windows (T, coeff_nc, 27) of a clip -> T frames in time order.
  // The same frames for every batch size and order (up to float rounding of
  // batched kernels).
  ClipResult render_clip(SourceState& state, const at::Tensor& windows, const ClipOptions& options = {},
                         const ClipControls& controls = {});

  bool has_cerl() const { return generator_->config.fusion; }
  int64_t coeff_nc() const { return mapping_->config.coeff_nc; }
  nn::KPDetector& kp_detector() { return kp_detector_; }
  nn::OcclusionAwareSpadeGenerator& generator() { return generator_; }
  nn::MappingNet& mapping() { return mapping_; }

 private:
  const SourceState::Batched& batched(SourceState& state, int64_t b, bool need_volume);

  nn::KPDetector kp_detector_;
  nn::OcclusionAwareSpadeGenerator generator_;
  nn::MappingNet mapping_;
};

}  // namespace tavce::render
