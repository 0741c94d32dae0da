// The offline audio -> 3DMM coefficient flow (torch): SadTalker's
// get_data + Audio2Coeff.generate (reference-architecture §1.1 steps 8-14) and
// TAVCE's inference.py flavour (§1.3), plus the pieces the streaming class
// (streaming.h) shares with it.
//
// Per clip of T video frames (mel windows (T, 1, 80, 16), see mel_windows_from_mel):
//   exp[t]   = ExpNet(window t, ref exp, blink ratio[t])                (T, 64)
//   motion   = PoseVAE decoder over 32-frame chunks (sequencing.h's plan), one
//              z ~ N(0, I) per chunk; frame 0 has zero motion            (T, 6)
//   raw      = ref_pose + motion                                         (T, 6)
//   smooth   = Savitzky-Golay(raw, 13 or less, order 2, mode 'interp')  (SadTalker only)
//   coeffs   = cat[exp, smooth + (ref_pose_seq[t] - ref_pose_seq[0])]   (T, 70)
// and, in the TAVCE flavour with a correlation encoder, the CERL gate per frame.
//
// Where we deliberately do not copy a reference failure: SadTalker's
// savgol_filter raises for T < 3 (we leave the pose unsmoothed), TAVCE's
// Audio2Exp.test breaks for T < 10 (golden README surprise 5; ExpNet is per
// frame, so we just run it on the T frames), generate_blink_seq_randomly
// raises for T = 21 (no blinks). TAVCE has no --ref_eyeblink / --ref_pose;
// given in that flavour they act as in SadTalker (per-frame ref exp, relative
// pose).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>

#include "tavce/coeffs/sequencing.h"
#include "tavce/nn/correlation.h"
#include "tavce/nn/expnet.h"
#include "tavce/nn/pose_vae.h"

namespace tavce::coeffs {

// The loaded networks (eval mode). correlation is optional: without it the
// TAVCE flavour produces no gate.
struct Audio2CoeffNets {
  nn::ExpNet expnet{nullptr};
  nn::PoseVAE pose_vae{nullptr};
  nn::CorrelationAudioEncoder correlation{nullptr};
};

struct Audio2CoeffInputs {
  at::Tensor mels;       // (T, 1, 80, 16) per-frame mel windows (get_data's indiv_mels[0])
  at::Tensor ref_coeff;  // (1, 70 | 73) or (70 | 73): exp 0:64, pose 64:70 (crop params unused here)
  at::Tensor ratio;      // optional (T, 1) injected blink ratio (parity); else drawn from seed
  at::Tensor z;          // optional (pose_chunk_count(T), 1, 64) injected CVAE draws; else from seed
  uint64_t seed = 0;     // blinks: std::mt19937_64(seed); z: CPU generator seeded with seed
};

struct Audio2CoeffResult {
  at::Tensor exp;          // (T, 64), NOT multiplied by expression_scale
  at::Tensor pose_motion;  // (T, 6), row 0 zero
  at::Tensor pose_raw;     // (T, 6) = ref_pose + motion
  at::Tensor pose_smooth;  // (T, 6) Savitzky-Golay (SadTalker) or = pose_raw (TAVCE)
  at::Tensor coeffs;       // (T, 70) cat[exp, pose_smooth (+ ref_pose offset)]
  at::Tensor ratio;        // (T, 1) blink ratio ExpNet got
  at::Tensor z;            // (chunks, 1, 64) the draws used, in chunk order
  int sg_window = 0;       // the smoothing window (0 in the TAVCE flavour)
  at::Tensor gate;         // (T, 128) CERL gate (TAVCE with a correlation encoder), else undefined
};

// The generator the CVAE draws come from: a CPU generator seeded with seed.
at::Generator make_z_generator(uint64_t seed);
// One chunk's z, (1, latent), drawn from gen. Offline and streaming both draw
// one chunk at a time in chunk order, so a seed gives the same z sequence
// however the stream is cut.
at::Tensor draw_z(at::Generator& gen, int64_t latent = 64);

// get_data's windowing from a frame-major (mel_frames x 80) normalised mel
// array: (T, 1, 80, 16). Indices are clamped to the reference's mel length
// for T frames, min(mel_frames, 1 + floor(3.2 T)) - 1, so a mel of the
// uncut audio gives the same windows as the reference's cut one except for
// the last ~2 mel frames' values (their STFT saw audio the reference zeroed).
at::Tensor mel_windows_from_mel(const float* mel, int64_t mel_frames, int64_t frames);

// Per-frame CERL gate (T, 128) for mel windows (T, 1, 80, 16): frame j gets
// nn::cerl_gate(f[max(j-1, 0)], f[j]) with f the correlation audio encoder's
// features (inference.py's per-frame cov_matrix loop; frame 0 gets 0).
at::Tensor cerl_gate_sequence(nn::CorrelationAudioEncoderImpl& encoder, const at::Tensor& mels);

// Embeddings (N, E) of windows (N, 1, 80, 16) in batches of at most `batch`
// windows (bounded memory on long clips); fn maps (n, 1, 80, 16) -> (n, E).
// (N = 0 is not allowed: callers skip empty batches.)
at::Tensor encode_in_batches(const std::function<at::Tensor(const at::Tensor&)>& fn, const at::Tensor& windows,
                             int64_t batch = 64);

// One PoseVAE decoder call: chunk_emb (1, L, 512) = the embeddings of a
// PoseChunk's windows in order, z (1, 64), class_id (1,), ref_pose (1, 6) ->
// the chunk's kept motion rows, the last `count` of the L outputs (count, 6).
at::Tensor decode_pose_chunk(nn::PoseVAEImpl& net, const at::Tensor& chunk_emb, int64_t count, const at::Tensor& z,
                             const at::Tensor& class_id, const at::Tensor& ref_pose);

// The whole offline flow. Throws tavce::Error for bad shapes or options
// (pose_style outside 0..45, ref_coeff not 70/73 wide, wrong z count...).
// T = 0 gives empty (0, ...) results; T < 3 is not smoothed (the reference
// raises there, see savgol.h).
Audio2CoeffResult audio2coeff_generate(Audio2CoeffNets& nets, const Audio2CoeffOptions& options,
                                       const Audio2CoeffInputs& inputs);

}  // namespace tavce::coeffs
