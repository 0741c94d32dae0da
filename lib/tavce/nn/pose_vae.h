// PoseVAE = SadTalker's Audio2Pose (reference-architecture §3.4,
// src/audio2pose_models/*.py, config src/config/auido2pose.yaml).
//
// Module tree and keys (SadTalker_V0.0.2_256.safetensors under "audio2pose."):
//   audio_encoder.audio_encoder.{0..12}.conv_block.*   PoseAudioEncoder
//   netG.encoder.*      CVAE encoder (training only)
//   netG.decoder.*      CVAE decoder (inference)
//   netD_motion.seq.*   PoseSequenceDiscriminator (training only)
// PoseVAEConfig::training_parts = false builds the module without
// netG.encoder and netD_motion, so the inference keys alone (the golden
// weights, or TAVCE's checkpoint which has no discriminator) load strictly.
#pragma once

#include <vector>

#include <nlohmann/json_fwd.hpp>
#include <torch/nn/module.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>

#include "tavce/nn/res_unet.h"
#include "tavce/nn/wav2lip_audio_encoder.h"

namespace tavce::nn {

struct PoseVAEConfig {
  int64_t seq_len = 32;              // SEQ_LEN: frames per CVAE chunk
  int64_t latent_size = 64;          // LATENT_SIZE
  int64_t num_classes = 46;          // NUM_CLASSES: pose styles
  int64_t audio_emb_in_size = 512;   // AUDIO_EMB_IN_SIZE
  int64_t audio_emb_out_size = 6;    // AUDIO_EMB_OUT_SIZE
  int64_t pose_dim = 6;              // angle(3) + trans(3), hard-coded in the reference
  std::vector<int64_t> encoder_layer_sizes{192, 128};  // ENCODER_LAYER_SIZES as in the yaml
  std::vector<int64_t> decoder_layer_sizes{128, 192};  // DECODER_LAYER_SIZES
  int64_t discriminator_input_channels = 6;  // DISCRIMINATOR.INPUT_CHANNELS
  bool discriminator_leaky_relu = false;     // DISCRIMINATOR.LEAKY_RELU
  // Build netG.encoder and netD_motion (training only; in SadTalker's checkpoint).
  bool training_parts = true;

  // The encoder's first MLP width. The reference adds latent + seq_len *
  // audio_emb_out + pose_dim to ENCODER_LAYER_SIZES[0] *in place* (192 -> 454);
  // building a second model from the same cfg object gives 716 and breaks the
  // checkpoint load. We compute it from the yaml value instead of mutating.
  int64_t encoder_input_size() const;
  int64_t decoder_input_size() const;  // pose_dim + latent + seq_len * audio_emb_out (262)

  // Reads the golden case.json "config" (yaml key names); missing keys keep the defaults.
  static PoseVAEConfig from_json(const nlohmann::json& j);
};

// Audio2Pose's AudioEncoder: the wav2lip encoder applied to every window of a
// (B, S, 1, 80, 16) sequence, registered as `audio_encoder`.
struct PoseAudioEncoderImpl : torch::nn::Module {
  PoseAudioEncoderImpl();
  // (B, S, 1, 80, 16) -> (B, S, 512).
  //
  // reference_batch_order = true reproduces the reference exactly, including
  // its batch-scrambling quirk: the windows are stacked time-major (row
  // s*B + b) but the result is reshaped batch-major, so for B > 1 output[b, s]
  // is the embedding of window (k % B, k / B) with k = b*S + s. For B = 1 (all
  // the reference's inference) both orders agree. false gives the un-mixed
  // per-item result (golden case audio_encoder_quirk_b2 checks both).
  at::Tensor forward(const at::Tensor& mels, bool reference_batch_order = true);
  Wav2LipAudioEncoder audio_encoder{nullptr};
};
TORCH_MODULE(PoseAudioEncoder);

// The reference's MLP: Sequential of Linear "L<i>" and activations "A<i>"
// (ReLU) / "sigmoid" (no keys).
torch::nn::Sequential make_pose_vae_mlp(const std::vector<int64_t>& sizes, bool final_sigmoid);

struct CVAEDecoderOutput {
  at::Tensor x_in;         // (B, 262) = cat[ref_pose, z + classbias[class], linear_audio(audio) flattened]
  at::Tensor mlp_out;      // (B, seq_len, 6) after the MLP's sigmoid
  at::Tensor resunet_out;  // (B, 1, seq_len, 6)
  at::Tensor pose_motion;  // (B, seq_len, 6)
};

// CVAE DECODER (the inference path, CVAE.test).
struct CVAEDecoderImpl : torch::nn::Module {
  explicit CVAEDecoderImpl(const PoseVAEConfig& cfg);
  // audio_emb (B, seq_len, 512), z (B, latent), class_id (B,) int64, ref_pose (B, 6).
  CVAEDecoderOutput forward_debug(const at::Tensor& audio_emb, const at::Tensor& z, const at::Tensor& class_id,
                                  const at::Tensor& ref_pose);
  // -> pose motion (B, seq_len, 6).
  at::Tensor forward(const at::Tensor& audio_emb, const at::Tensor& z, const at::Tensor& class_id,
                     const at::Tensor& ref_pose);

  PoseVAEConfig cfg;
  ResUnet resunet{nullptr};
  torch::nn::Sequential MLP{nullptr};
  torch::nn::Linear pose_linear{nullptr}, linear_audio{nullptr};
  at::Tensor classbias;  // (num_classes, latent), a parameter
};
TORCH_MODULE(CVAEDecoder);

struct CVAEEncoderOutput {
  at::Tensor mu, logvar;  // (B, latent)
};

// CVAE ENCODER (training only).
struct CVAEEncoderImpl : torch::nn::Module {
  explicit CVAEEncoderImpl(const PoseVAEConfig& cfg);
  // pose_motion_gt (B, seq_len, 6), audio_emb (B, seq_len, 512), class_id (B,), ref_pose (B, 6).
  CVAEEncoderOutput forward(const at::Tensor& pose_motion_gt, const at::Tensor& audio_emb,
                            const at::Tensor& class_id, const at::Tensor& ref_pose);

  PoseVAEConfig cfg;
  ResUnet resunet{nullptr};
  torch::nn::Sequential MLP{nullptr};
  torch::nn::Linear linear_means{nullptr}, linear_logvar{nullptr}, linear_audio{nullptr};
  at::Tensor classbias;
};
TORCH_MODULE(CVAEEncoder);

// netG: encoder (training only, optional) + decoder.
struct CVAEImpl : torch::nn::Module {
  explicit CVAEImpl(const PoseVAEConfig& cfg);
  // Training path: encode, reparameterise with the given noise eps (B, latent)
  // (z = mu + eps * exp(logvar / 2)), decode. Needs the encoder.
  struct TrainOutput {
    at::Tensor mu, logvar, pose_motion;
  };
  TrainOutput forward(const at::Tensor& pose_motion_gt, const at::Tensor& audio_emb, const at::Tensor& class_id,
                      const at::Tensor& ref_pose, const at::Tensor& eps);
  // Inference path (CVAE.test): the decoder with a given z.
  at::Tensor test(const at::Tensor& audio_emb, const at::Tensor& z, const at::Tensor& class_id,
                  const at::Tensor& ref_pose);

  CVAEEncoder encoder{nullptr};
  CVAEDecoder decoder{nullptr};
};
TORCH_MODULE(CVAE);

// conv1d (no bias) -> BN1d -> ReLU (LeakyReLU 0.2 when leaky). Keys: conv, norm.
struct ConvNormRelu1dImpl : torch::nn::Module {
  ConvNormRelu1dImpl(int64_t cin, int64_t cout, int64_t kernel, int64_t stride, int64_t padding, bool leaky);
  at::Tensor forward(const at::Tensor& x);
  torch::nn::Conv1d conv{nullptr};
  torch::nn::BatchNorm1d norm{nullptr};
  bool leaky;
};
TORCH_MODULE(ConvNormRelu1d);

// netD_motion (training only): seq.0/1 ConvNormRelu k4 s2 p1 (6->256->512),
// seq.2 ConvNormRelu k3 s1 p1 (512->1024), seq.3 Conv1d(1024->1, k3, p1, bias).
struct PoseSequenceDiscriminatorImpl : torch::nn::Module {
  explicit PoseSequenceDiscriminatorImpl(const PoseVAEConfig& cfg);
  // pose sequence (B, T, 6) -> logits (B, T/4).
  at::Tensor forward(const at::Tensor& x);
  torch::nn::Sequential seq{nullptr};
};
TORCH_MODULE(PoseSequenceDiscriminator);

struct PoseVAEImpl : torch::nn::Module {
  explicit PoseVAEImpl(const PoseVAEConfig& cfg = {});
  PoseVAEConfig cfg;
  PoseAudioEncoder audio_encoder{nullptr};
  CVAE netG{nullptr};
  PoseSequenceDiscriminator netD_motion{nullptr};  // null unless cfg.training_parts
};
TORCH_MODULE(PoseVAE);

// Number of z draws Audio2Pose.test consumes for a clip of `frames` frames:
// (frames-1)/seq_len full chunks, plus one if (frames-1) % seq_len != 0.
int64_t pose_vae_chunk_count(int64_t frames, int64_t seq_len);

struct PoseSequence {
  at::Tensor pose_motion;  // (B, T, 6); frame 0 is zero
  at::Tensor pose;         // (B, T, 6) = ref_pose + pose_motion
};

// SadTalker's Audio2Pose.test: the pose sequence of a whole clip.
//   mels    (B, T, 1, 80, 16): the per-frame mel windows of get_data (frame 0
//           is the reference frame and gets zero motion; frames 1..T-1 are
//           generated from windows 1..T-1);
//   ref_pose (B, 6): ref[:, 0, 64:70] of the reference;
//   class_id (B,) int64 pose style in [0, num_classes);
//   z       (pose_vae_chunk_count(T), B, latent): the normal draws, one per
//           chunk, in the order the reference draws them (the caller owns the
//           randomness: seed a generator, or inject stored draws).
// Chunk k (k < div = (T-1)/32) decodes windows 1+32k .. 32+32k with z[k]. If
// re = (T-1) % 32 > 0, one more chunk decodes the last 32 windows (front-padded
// by repeating the first embedding when T-1 < 32) with the next z and keeps
// its last re frames. B > 1 goes through PoseAudioEncoder's reference order.
PoseSequence pose_vae_generate(PoseVAEImpl& net, const at::Tensor& mels, const at::Tensor& ref_pose,
                               const at::Tensor& class_id, const at::Tensor& z);

}  // namespace tavce::nn
