#include "tavce/render/animator.h"

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include "tavce/error.h"
#include "tavce/render/shape_text.h"
#include "tavce/nn/keypoint_transform.h"
#include "tavce/render/driving.h"

namespace tavce::render {
namespace {

// Device and dtype of the loaded generator: inputs follow the modules, so a
// model moved to CUDA or converted to double (the batch-invariance test) is
// fed accordingly.
struct Placement {
  c10::Device device{c10::kCPU};
  at::ScalarType dtype = at::kFloat;
  at::Tensor operator()(const at::Tensor& x) const { return x.to(device, dtype); }
};

Placement module_placement(torch::nn::Module& m) {
  const auto params = m.parameters();
  if (params.empty()) return {};
  return {params.front().device(), params.front().scalar_type()};
}

// A batch-1 tensor materialised at batch b (see SourceState::Batched).
at::Tensor repeat_batch(const at::Tensor& x, int64_t b) {
  if (!x.defined() || b == 1) return x;
  std::vector<int64_t> sizes(x.sizes().begin(), x.sizes().end());
  sizes[0] = b;
  return x.expand(sizes).contiguous();
}

// A (B) degree sequence, or undefined.
at::Tensor check_degrees(const at::Tensor& deg, int64_t b, const char* name, const Placement& place) {
  if (!deg.defined()) return deg;
  if (deg.dim() != 1 || deg.size(0) != b)
    throw Error(std::string("render: ") + name + " override must be (" + std::to_string(b) + ") degrees, got " +
                shape_of(deg));
  return place(deg);
}

FrameControls slice_controls(const FrameControls& c, int64_t start, int64_t length) {
  FrameControls out;
  auto cut = [&](const at::Tensor& t) { return t.defined() ? t.narrow(0, start, length) : t; };
  out.yaw_deg = cut(c.yaw_deg);
  out.pitch_deg = cut(c.pitch_deg);
  out.roll_deg = cut(c.roll_deg);
  out.cerl_gate = cut(c.cerl_gate);
  return out;
}

void check_clip_control(const at::Tensor& t, int64_t frames, const char* name) {
  if (t.defined() && (t.dim() < 1 || t.size(0) != frames))
    throw Error(std::string("render_clip: ") + name + " must have one entry per frame (" + std::to_string(frames) +
                "), got " + shape_of(t));
}

}  // namespace

Animator::Animator(nn::KPDetector kp_detector, nn::OcclusionAwareSpadeGenerator generator, nn::MappingNet mapping)
    : kp_detector_(std::move(kp_detector)), generator_(std::move(generator)), mapping_(std::move(mapping)) {
  if (!kp_detector_ || !generator_ || !mapping_) throw Error("Animator: a module is missing (null holder)");
  if (kp_detector_->config.num_kp != generator_->config.num_kp || mapping_->config.num_kp != generator_->config.num_kp)
    throw Error("Animator: num_kp differs between KPDetector (" + std::to_string(kp_detector_->config.num_kp) +
                "), MappingNet (" + std::to_string(mapping_->config.num_kp) + ") and generator (" +
                std::to_string(generator_->config.num_kp) + ")");
}

SourceState Animator::prepare_source(const at::Tensor& source_image, const at::Tensor& source_semantics) {
  if (!source_image.defined() || source_image.dim() != 4 || source_image.size(0) != 1 || source_image.size(1) != 3)
    throw Error("prepare_source: source image must be (1, 3, H, W) in [0,1], got " + shape_of(source_image));
  at::Tensor sem = source_semantics;
  if (sem.defined() && sem.dim() == 2) sem = sem.unsqueeze(0);
  if (!sem.defined() || sem.dim() != 3 || sem.size(0) != 1 || sem.size(1) != coeff_nc())
    throw Error("prepare_source: source semantics must be (1, " + std::to_string(coeff_nc()) + ", L), got " +
                shape_of(source_semantics));
  c10::InferenceMode guard;
  const Placement place = module_placement(*generator_);
  const at::Tensor image = place(source_image);
  SourceState s;
  s.height = image.size(2);
  s.width = image.size(3);
  s.kp_canonical = kp_detector_->forward(image);
  // he_source = mapping(source_semantics); the reference's he['t'] in-place
  // zeroing has no effect on anything else here.
  const nn::HeadPose he_source = mapping_->forward(place(sem));
  s.kp_source = nn::keypoint_transformation(s.kp_canonical, he_source).value;
  // Cache resblocks_3d too unless every frame will go through CERL (TAVCE);
  // for a TAVCE model it is computed lazily if a frame comes without a gate.
  s.features = generator_->encode_source(image, /*cache_volume=*/!has_cerl());
  return s;
}

const SourceState::Batched& Animator::batched(SourceState& state, int64_t b, bool need_volume) {
  SourceState::Batched& entry = state.batched[b];
  if (!entry.kp_canonical.defined()) {
    // kp tensors are tiny; an expanded view is enough.
    entry.kp_canonical = state.kp_canonical.expand({b, state.kp_canonical.size(1), 3});
    entry.kp_source = state.kp_source.expand({b, state.kp_source.size(1), 3});
  }
  if (need_volume) {
    if (!state.features.volume.defined()) state.features.volume = generator_->to_volume(state.features.feature);
    if (!entry.features.volume.defined()) entry.features.volume = repeat_batch(state.features.volume, b);
  } else if (!entry.features.feature.defined()) {
    // CERL runs on the `second` output of every frame.
    entry.features.feature = repeat_batch(state.features.feature, b);
  }
  return entry;
}

FrameBatch Animator::render(SourceState& state, const at::Tensor& windows, const FrameControls& controls) {
  if (!state.kp_canonical.defined()) throw Error("render: the source state is empty (call prepare_source first)");
  const int64_t layers = mapping_->config.layer;
  if (!windows.defined() || windows.dim() != 3 || windows.size(0) < 1 || windows.size(1) != coeff_nc() ||
      windows.size(2) < 7 + 6 * layers)
    throw Error("render: windows must be (B >= 1, " + std::to_string(coeff_nc()) + ", L >= " +
                std::to_string(7 + 6 * layers) + "), got " + shape_of(windows));
  c10::InferenceMode guard;
  const Placement place = module_placement(*generator_);
  const int64_t b = windows.size(0);

  nn::CerlInput cerl;
  if (controls.cerl_gate.defined()) {
    if (!has_cerl()) throw Error("render: a CERL gate was given but the generator has no fusion block");
    const int64_t cor = generator_->config.fusion_cor_dim;
    if (controls.cerl_gate.dim() != 2 || controls.cerl_gate.size(0) != b || controls.cerl_gate.size(1) != cor)
      throw Error("render: CERL gate must be (" + std::to_string(b) + ", " + std::to_string(cor) + "), got " +
                  shape_of(controls.cerl_gate));
    cerl.gate = place(controls.cerl_gate);
  }
  const SourceState::Batched& src = batched(state, b, !cerl.enabled());

  nn::HeadPose he = mapping_->forward(place(windows));
  // make_animation: he_driving['yaw_in'] = yaw_c_seq[:, frame_idx] etc.
  he.yaw_in = check_degrees(controls.yaw_deg, b, "yaw", place);
  he.pitch_in = check_degrees(controls.pitch_deg, b, "pitch", place);
  he.roll_in = check_degrees(controls.roll_deg, b, "roll", place);
  FrameBatch out;
  out.kp_driving = nn::keypoint_transformation(src.kp_canonical, he).value;
  out.prediction = generator_->render(src.features, src.kp_source, out.kp_driving, cerl).prediction;
  return out;
}

ClipResult Animator::render_clip(SourceState& state, const at::Tensor& windows, const ClipOptions& options,
                                 const ClipControls& controls) {
  if (!windows.defined() || windows.dim() != 3 || windows.size(0) < 1)
    throw Error("render_clip: windows must be (T >= 1, coeff_nc, L), got " + shape_of(windows));
  if (options.batch_size < 1) throw Error("render_clip: batch_size must be >= 1");
  const int64_t t = windows.size(0), bs = options.batch_size;
  check_clip_control(controls.yaw_deg, t, "yaw_deg");
  check_clip_control(controls.pitch_deg, t, "pitch_deg");
  check_clip_control(controls.roll_deg, t, "roll_deg");
  check_clip_control(controls.cerl_gate, t, "cerl_gate");
  c10::InferenceMode guard;

  std::vector<at::Tensor> frames, kps;
  if (options.order == ClipOrder::kConsecutive) {
    for (int64_t s = 0; s < t; s += bs) {
      const int64_t n = std::min(bs, t - s);
      FrameBatch fb = render(state, windows.narrow(0, s, n), slice_controls(controls, s, n));
      frames.push_back(fb.prediction);
      kps.push_back(fb.kp_driving);
    }
    ClipResult r;
    r.frames = at::cat(frames, 0);
    r.kp_driving = at::cat(kps, 0);
    return r;
  }

  // Reference order: get_facerender_data's padding and batch-major reshape,
  // make_animation's loop over the second axis, generate's reshape + [:T].
  const at::Tensor target = reference_target_semantics(windows, bs);  // (bs, n, D, L)
  auto layout = [bs](const at::Tensor& c) { return c.defined() ? reference_batch_layout(c, bs) : c; };
  const FrameControls batched_controls{layout(controls.yaw_deg), layout(controls.pitch_deg),
                                       layout(controls.roll_deg), layout(controls.cerl_gate)};
  auto step = [](const at::Tensor& c, int64_t i) { return c.defined() ? c.select(1, i) : c; };
  const int64_t n = target.size(1);
  for (int64_t i = 0; i < n; ++i) {
    const FrameControls fc{step(batched_controls.yaw_deg, i), step(batched_controls.pitch_deg, i),
                           step(batched_controls.roll_deg, i), step(batched_controls.cerl_gate, i)};
    FrameBatch fb = render(state, target.select(1, i), fc);
    frames.push_back(fb.prediction);
    kps.push_back(fb.kp_driving);
  }
  // torch.stack(predictions, dim=1) -> (bs, n, ...) -> reshape(-1, ...) is time order.
  auto reorder = [t](const std::vector<at::Tensor>& parts) {
    const at::Tensor s = at::stack(parts, 1);
    std::vector<int64_t> shape{-1};
    for (int64_t d = 2; d < s.dim(); ++d) shape.push_back(s.size(d));
    return s.reshape(shape).narrow(0, 0, t);
  };
  ClipResult r;
  r.frames = reorder(frames);
  r.kp_driving = reorder(kps);
  return r;
}

}  // namespace tavce::render
