#include "tavce/coeffs/audio2coeff.h"

#include <algorithm>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <c10/core/InferenceMode.h>

#include "tavce/audio/mel_config.h"
#include "tavce/audio/mel_windows.h"
#include "tavce/coeffs/blink.h"
#include "tavce/coeffs/savgol.h"
#include "tavce/error.h"
#include "tavce/nn/cerl.h"

namespace tavce::coeffs {

namespace {

std::string shape_str(const at::Tensor& t) { return t.defined() ? std::string(c10::str(t.sizes())) : "undefined"; }

}  // namespace

at::Generator make_z_generator(uint64_t seed) { return at::make_generator<at::CPUGeneratorImpl>(seed); }

at::Tensor draw_z(at::Generator& gen, int64_t latent) { return at::randn({1, latent}, gen, at::kFloat); }

at::Tensor mel_windows_from_mel(const float* mel, int64_t mel_frames, int64_t frames) {
  const audio::MelConfig cfg;
  const audio::MelWindowing w;
  if (frames < 0) throw Error("mel windows: negative frame count");
  at::Tensor out = at::empty({frames, 1, cfg.n_mels, w.window}, at::kFloat);
  if (frames == 0) return out;
  // The reference cuts the audio to T*640 samples first, so its mel has
  // 1 + floor(3.2 T) frames and the window indices clamp to that.
  const int64_t usable = std::min(mel_frames, mel_frames_for_frames(frames));
  if (usable <= 0) throw Error("mel windows: no mel frames for " + std::to_string(frames) + " video frames");
  float* o = out.data_ptr<float>();
  for (int64_t t = 0; t < frames; ++t) audio::extract_window(mel, usable, t, o + t * cfg.n_mels * w.window, cfg, w);
  return out;
}

at::Tensor cerl_gate_sequence(nn::CorrelationAudioEncoderImpl& encoder, const at::Tensor& mels) {
  if (mels.dim() != 4) throw Error("CERL gate: mel windows must be (T, 1, 80, 16), got " + shape_str(mels));
  const int64_t t = mels.size(0);
  if (t == 0) return at::zeros({0, encoder.cfg.dim}, mels.options());
  // Each window is encoded once; frame j pairs window max(j-1, 0) with j.
  const at::Tensor f = encode_in_batches([&](const at::Tensor& x) { return encoder.forward(x); }, mels);
  const at::Tensor prev = at::cat({f.slice(0, 0, 1), f.slice(0, 0, t - 1)}, 0);
  return nn::cerl_gate(prev, f);
}

at::Tensor encode_in_batches(const std::function<at::Tensor(const at::Tensor&)>& fn, const at::Tensor& windows,
                             int64_t batch) {
  if (windows.size(0) == 0) throw Error("encode_in_batches: no windows");
  std::vector<at::Tensor> parts;
  for (int64_t i = 0; i < windows.size(0); i += batch)
    parts.push_back(fn(windows.slice(0, i, std::min(windows.size(0), i + batch))));
  return parts.size() == 1 ? parts[0] : at::cat(parts, 0);
}

at::Tensor decode_pose_chunk(nn::PoseVAEImpl& net, const at::Tensor& chunk_emb, int64_t count, const at::Tensor& z,
                             const at::Tensor& class_id, const at::Tensor& ref_pose) {
  const at::Tensor motion = net.netG->test(chunk_emb, z, class_id, ref_pose);  // (1, L, 6)
  const int64_t len = motion.size(1);
  return motion[0].slice(0, len - count, len);
}

Audio2CoeffResult audio2coeff_generate(Audio2CoeffNets& nets, const Audio2CoeffOptions& options,
                                       const Audio2CoeffInputs& in) {
  if (!nets.expnet || !nets.pose_vae) throw Error("audio2coeff: ExpNet and PoseVAE are required");
  if (in.mels.dim() != 4 || in.mels.size(1) != 1 || in.mels.size(2) != 80 || in.mels.size(3) != 16)
    throw Error("audio2coeff: mels must be (T, 1, 80, 16), got " + shape_str(in.mels));
  if (options.pose_style < 0 || options.pose_style >= kNumPoseStyles)
    throw Error("audio2coeff: pose_style must be in 0.." + std::to_string(kNumPoseStyles - 1) + ", got " +
                std::to_string(options.pose_style));
  if (!in.ref_coeff.defined() || (in.ref_coeff.numel() != 70 && in.ref_coeff.numel() != 73))
    throw Error("audio2coeff: ref_coeff must hold 70 or 73 values, got " + shape_str(in.ref_coeff));
  if (options.ref_pose.size() % kPoseDim != 0 || options.ref_eyeblink.size() % kExpDim != 0)
    throw Error("audio2coeff: ref_pose must be N x 6 and ref_eyeblink N x 64 values");
  c10::InferenceMode guard;
  nn::PoseVAEImpl& pose_net = *nets.pose_vae;
  const int64_t frames = in.mels.size(0), seq_len = pose_net.cfg.seq_len, latent = pose_net.cfg.latent_size;
  const at::Tensor mels = in.mels.to(at::kFloat).contiguous();
  const at::Tensor ref = in.ref_coeff.to(at::kFloat).reshape({-1});
  const at::Tensor ref_exp = ref.slice(0, 0, kExpDim), ref_pose = ref.slice(0, kExpDim, kExpDim + kPoseDim);

  Audio2CoeffResult r;
  const std::vector<PoseChunk> plan = pose_chunk_plan(options.flavour, frames, seq_len);

  // Random draws: injected (parity) or from the seed.
  const bool eyeblink = !options.ref_eyeblink.empty();
  if (eyeblink || !options.use_blink) {
    r.ratio = at::zeros({frames, 1});  // get_data: ref_eyeblink forces 0; use_blink=False fills 0
  } else if (in.ratio.defined()) {
    if (in.ratio.numel() != frames)
      throw Error("audio2coeff: ratio must be (T, 1) = (" + std::to_string(frames) + ", 1), got " + shape_str(in.ratio));
    r.ratio = in.ratio.to(at::kFloat).reshape({frames, 1});
  } else {
    std::vector<float> b = blink_ratio_sequence(frames, in.seed);
    r.ratio = at::from_blob(b.data(), {frames, 1}, at::kFloat).clone();
  }
  if (in.z.defined()) {
    if (in.z.dim() != 3 || in.z.size(0) != int64_t(plan.size()) || in.z.size(1) != 1 || in.z.size(2) != latent)
      throw Error("audio2coeff: a clip of " + std::to_string(frames) + " frames needs z of shape (" +
                  std::to_string(plan.size()) + ", 1, " + std::to_string(latent) + "), got " + shape_str(in.z));
    r.z = in.z.to(at::kFloat);
  } else {
    at::Generator gen = make_z_generator(in.seed);
    std::vector<at::Tensor> zs;
    for (size_t k = 0; k < plan.size(); ++k) zs.push_back(draw_z(gen, latent).unsqueeze(0));
    r.z = zs.empty() ? at::zeros({0, 1, latent}) : at::cat(zs, 0);
  }

  r.sg_window = options.flavour == Flavour::SadTalker ? savgol_window_for(frames) : 0;
  if (frames == 0) {
    r.exp = at::zeros({0, kExpDim});
    r.pose_motion = r.pose_raw = r.pose_smooth = at::zeros({0, kPoseDim});
    r.coeffs = at::zeros({0, kCoeffDim});
    if (options.flavour == Flavour::Tavce && nets.correlation) r.gate = at::zeros({0, kGateDim});
    return r;
  }

  // ExpNet, per frame. The ref exp is the source's (get_data repeats it; TAVCE
  // takes frame 0's, the same row), or the --ref_eyeblink sequence looped.
  at::Tensor ref_exp_seq;
  if (eyeblink) {
    const int64_t n = int64_t(options.ref_eyeblink.size()) / kExpDim;
    const at::Tensor seq = at::from_blob(const_cast<float*>(options.ref_eyeblink.data()), {n, kExpDim}, at::kFloat);
    ref_exp_seq = seq.index_select(0, at::arange(frames, at::kLong).remainder(n));
  } else {
    ref_exp_seq = ref_exp.unsqueeze(0).expand({frames, kExpDim});
  }
  nn::ExpNetImpl& exp_net = *nets.expnet;
  const at::Tensor exp_emb =
      encode_in_batches([&](const at::Tensor& x) { return exp_net.audio_encoder->embed(x); }, mels);
  r.exp = exp_net.mapping1->forward(at::cat({exp_emb, ref_exp_seq, r.ratio}, 1));

  // PoseVAE: every window is embedded once; the chunks pick their windows.
  const at::Tensor pose_emb =
      encode_in_batches([&](const at::Tensor& x) { return pose_net.audio_encoder->audio_encoder->embed(x); }, mels);
  const at::Tensor class_id = at::full({1}, options.pose_style, at::kLong);
  const at::Tensor ref_pose_b = ref_pose.unsqueeze(0);
  std::vector<at::Tensor> parts{at::zeros({1, kPoseDim})};  // frame 0 is the reference: zero motion
  for (size_t k = 0; k < plan.size(); ++k) {
    // The reference pads at the embedding level (repeating the first
    // embedding); repeating the window index gives the same rows.
    const at::Tensor chunk_emb = pose_emb.index_select(0, at::tensor(plan[k].windows, at::kLong)).unsqueeze(0);
    parts.push_back(decode_pose_chunk(pose_net, chunk_emb, plan[k].count, r.z[int64_t(k)], class_id, ref_pose_b));
  }
  r.pose_motion = at::cat(parts, 0);
  r.pose_raw = ref_pose.unsqueeze(0) + r.pose_motion;

  if (options.flavour == Flavour::SadTalker) {
    const at::Tensor raw = r.pose_raw.contiguous();
    r.pose_smooth = at::empty_like(raw);
    savgol_filter(raw.data_ptr<float>(), frames, kPoseDim, r.sg_window, r.pose_smooth.data_ptr<float>());
  } else {
    r.pose_smooth = r.pose_raw.clone();  // TAVCE feeds the unsmoothed pose
  }

  at::Tensor pose = r.pose_smooth;
  if (!options.ref_pose.empty()) {
    const int64_t n = int64_t(options.ref_pose.size()) / kPoseDim;
    const at::Tensor seq = at::from_blob(const_cast<float*>(options.ref_pose.data()), {n, kPoseDim}, at::kFloat);
    const at::Tensor looped = seq.index_select(0, at::arange(frames, at::kLong).remainder(n));
    pose = pose + (looped - seq.slice(0, 0, 1));
  }
  r.coeffs = at::cat({r.exp, pose}, 1);

  if (options.flavour == Flavour::Tavce && nets.correlation) r.gate = cerl_gate_sequence(*nets.correlation, mels);
  return r;
}

}  // namespace tavce::coeffs
