#include "tavce/nn/pose_vae.h"

#include <string>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>
#include <torch/nn/modules/activation.h>

#include "tavce/error.h"

namespace tavce::nn {
namespace {

std::string shape_of(const at::Tensor& t) { return std::string(c10::str(t.sizes())); }

void check_chunk_inputs(const PoseVAEConfig& cfg, const at::Tensor& audio_emb, const at::Tensor& class_id,
                        const at::Tensor& ref_pose, const char* who) {
  if (audio_emb.dim() != 3 || audio_emb.size(1) != cfg.seq_len || audio_emb.size(2) != cfg.audio_emb_in_size)
    throw Error(std::string(who) + ": audio_emb must be (B, " + std::to_string(cfg.seq_len) + ", " +
                std::to_string(cfg.audio_emb_in_size) + "), got " + shape_of(audio_emb));
  const int64_t b = audio_emb.size(0);
  if (class_id.numel() != b || at::isFloatingType(class_id.scalar_type()))
    throw Error(std::string(who) + ": class_id must hold B=" + std::to_string(b) + " integer classes, got " +
                shape_of(class_id));
  if (class_id.numel() > 0 &&
      (class_id.min().item<int64_t>() < 0 || class_id.max().item<int64_t>() >= cfg.num_classes))
    throw Error(std::string(who) + ": pose style class out of range [0, " + std::to_string(cfg.num_classes) + ")");
  if (ref_pose.dim() != 2 || ref_pose.size(0) != b || ref_pose.size(1) != cfg.pose_dim)
    throw Error(std::string(who) + ": ref_pose must be (B, " + std::to_string(cfg.pose_dim) + "), got " +
                shape_of(ref_pose));
}

}  // namespace

// --- config ------------------------------------------------------------------

int64_t PoseVAEConfig::encoder_input_size() const {
  return encoder_layer_sizes.at(0) + latent_size + seq_len * audio_emb_out_size + pose_dim;
}

int64_t PoseVAEConfig::decoder_input_size() const {
  return pose_dim + latent_size + seq_len * audio_emb_out_size;
}

PoseVAEConfig PoseVAEConfig::from_json(const nlohmann::json& j) {
  PoseVAEConfig c;
  if (!j.is_object()) return c;
  c.seq_len = j.value("SEQ_LEN", c.seq_len);
  c.latent_size = j.value("LATENT_SIZE", c.latent_size);
  c.num_classes = j.value("NUM_CLASSES", c.num_classes);
  c.audio_emb_in_size = j.value("AUDIO_EMB_IN_SIZE", c.audio_emb_in_size);
  c.audio_emb_out_size = j.value("AUDIO_EMB_OUT_SIZE", c.audio_emb_out_size);
  c.encoder_layer_sizes = j.value("ENCODER_LAYER_SIZES", c.encoder_layer_sizes);
  c.decoder_layer_sizes = j.value("DECODER_LAYER_SIZES", c.decoder_layer_sizes);
  c.discriminator_input_channels = j.value("DISCRIMINATOR_INPUT_CHANNELS", c.discriminator_input_channels);
  c.discriminator_leaky_relu = j.value("DISCRIMINATOR_LEAKY_RELU", c.discriminator_leaky_relu);
  if (c.decoder_layer_sizes.empty() || c.decoder_layer_sizes.back() != c.seq_len * c.pose_dim)
    throw Error("PoseVAE config: the last DECODER_LAYER_SIZES entry must be SEQ_LEN * 6");
  if (c.encoder_layer_sizes.size() < 2) throw Error("PoseVAE config: ENCODER_LAYER_SIZES needs two entries or more");
  return c;
}

// --- audio encoder -------------------------------------------------------------

PoseAudioEncoderImpl::PoseAudioEncoderImpl() {
  audio_encoder = register_module("audio_encoder", Wav2LipAudioEncoder());
}

at::Tensor PoseAudioEncoderImpl::forward(const at::Tensor& mels, bool reference_batch_order) {
  if (mels.dim() != 5) throw Error("PoseVAE audio encoder: mels must be (B, S, 1, 80, 16), got " + shape_of(mels));
  const int64_t b = mels.size(0), s = mels.size(1);
  const int64_t e = Wav2LipAudioEncoderImpl::kEmbedding;
  if (!reference_batch_order)
    return audio_encoder->embed(mels.reshape({b * s, mels.size(2), mels.size(3), mels.size(4)})).reshape({b, s, e});
  // Reference quirk (golden README surprise 2): windows are concatenated
  // time-major (row s*B + b) but the embeddings are reshaped batch-major.
  const at::Tensor time_major = mels.transpose(0, 1).reshape({s * b, mels.size(2), mels.size(3), mels.size(4)});
  return audio_encoder->embed(time_major).reshape({b, s, e});
}

// --- CVAE ----------------------------------------------------------------------

torch::nn::Sequential make_pose_vae_mlp(const std::vector<int64_t>& sizes, bool final_sigmoid) {
  torch::nn::Sequential mlp;
  const size_t layers = sizes.size() - 1;
  for (size_t i = 0; i < layers; ++i) {
    mlp->push_back("L" + std::to_string(i), torch::nn::Linear(sizes[i], sizes[i + 1]));
    if (final_sigmoid && i + 1 == layers)
      mlp->push_back("sigmoid", torch::nn::Sigmoid());
    else
      mlp->push_back("A" + std::to_string(i), torch::nn::ReLU());
  }
  return mlp;
}

CVAEDecoderImpl::CVAEDecoderImpl(const PoseVAEConfig& cfg_) : cfg(cfg_) {
  resunet = register_module("resunet", ResUnet());
  std::vector<int64_t> sizes{cfg.decoder_input_size()};
  sizes.insert(sizes.end(), cfg.decoder_layer_sizes.begin(), cfg.decoder_layer_sizes.end());
  MLP = register_module("MLP", make_pose_vae_mlp(sizes, /*final_sigmoid=*/true));
  pose_linear = register_module("pose_linear", torch::nn::Linear(cfg.pose_dim, cfg.pose_dim));
  linear_audio = register_module("linear_audio", torch::nn::Linear(cfg.audio_emb_in_size, cfg.audio_emb_out_size));
  // The reference draws torch.randn; the value always comes from the checkpoint.
  classbias = register_parameter("classbias", at::randn({cfg.num_classes, cfg.latent_size}));
}

CVAEDecoderOutput CVAEDecoderImpl::forward_debug(const at::Tensor& audio_emb, const at::Tensor& z,
                                                 const at::Tensor& class_id, const at::Tensor& ref_pose) {
  check_chunk_inputs(cfg, audio_emb, class_id, ref_pose, "PoseVAE decoder");
  const int64_t b = audio_emb.size(0);
  if (z.dim() != 2 || z.size(0) != b || z.size(1) != cfg.latent_size)
    throw Error("PoseVAE decoder: z must be (B, " + std::to_string(cfg.latent_size) + "), got " + shape_of(z));
  CVAEDecoderOutput out;
  // Audio features flattened time-major per item: (B, seq_len * 6).
  const at::Tensor audio_out = linear_audio->forward(audio_emb).reshape({b, -1});
  const at::Tensor z_class = z + classbias.index_select(0, class_id.reshape({b}).to(at::kLong));
  out.x_in = at::cat({ref_pose, z_class, audio_out}, -1);
  out.mlp_out = MLP->forward(out.x_in).reshape({b, cfg.seq_len, -1});
  out.resunet_out = resunet->forward(out.mlp_out.unsqueeze(1));
  out.pose_motion = pose_linear->forward(out.resunet_out.squeeze(1));
  return out;
}

at::Tensor CVAEDecoderImpl::forward(const at::Tensor& audio_emb, const at::Tensor& z, const at::Tensor& class_id,
                                    const at::Tensor& ref_pose) {
  return forward_debug(audio_emb, z, class_id, ref_pose).pose_motion;
}

CVAEEncoderImpl::CVAEEncoderImpl(const PoseVAEConfig& cfg_) : cfg(cfg_) {
  resunet = register_module("resunet", ResUnet());
  std::vector<int64_t> sizes = cfg.encoder_layer_sizes;
  sizes[0] = cfg.encoder_input_size();  // 454 (see PoseVAEConfig::encoder_input_size)
  MLP = register_module("MLP", make_pose_vae_mlp(sizes, /*final_sigmoid=*/false));
  linear_means = register_module("linear_means", torch::nn::Linear(sizes.back(), cfg.latent_size));
  linear_logvar = register_module("linear_logvar", torch::nn::Linear(sizes.back(), cfg.latent_size));
  linear_audio = register_module("linear_audio", torch::nn::Linear(cfg.audio_emb_in_size, cfg.audio_emb_out_size));
  classbias = register_parameter("classbias", at::randn({cfg.num_classes, cfg.latent_size}));
}

CVAEEncoderOutput CVAEEncoderImpl::forward(const at::Tensor& pose_motion_gt, const at::Tensor& audio_emb,
                                           const at::Tensor& class_id, const at::Tensor& ref_pose) {
  check_chunk_inputs(cfg, audio_emb, class_id, ref_pose, "PoseVAE encoder");
  const int64_t b = audio_emb.size(0);
  if (pose_motion_gt.dim() != 3 || pose_motion_gt.size(0) != b || pose_motion_gt.size(1) != cfg.seq_len ||
      pose_motion_gt.size(2) != cfg.pose_dim)
    throw Error("PoseVAE encoder: pose_motion_gt must be (B, seq_len, 6), got " + shape_of(pose_motion_gt));
  const at::Tensor pose_emb = resunet->forward(pose_motion_gt.unsqueeze(1)).reshape({b, -1});
  const at::Tensor audio_out = linear_audio->forward(audio_emb).reshape({b, -1});
  const at::Tensor class_bias = classbias.index_select(0, class_id.reshape({b}).to(at::kLong));
  const at::Tensor x_out = MLP->forward(at::cat({ref_pose, pose_emb, audio_out, class_bias}, -1));
  CVAEEncoderOutput out;
  out.mu = linear_means->forward(x_out);
  // SadTalker bug kept on purpose: logvar is computed with linear_means, so
  // linear_logvar is never used (its weights are still in the checkpoint).
  out.logvar = linear_means->forward(x_out);
  return out;
}

CVAEImpl::CVAEImpl(const PoseVAEConfig& cfg) {
  if (cfg.training_parts) encoder = register_module("encoder", CVAEEncoder(cfg));
  decoder = register_module("decoder", CVAEDecoder(cfg));
}

CVAEImpl::TrainOutput CVAEImpl::forward(const at::Tensor& pose_motion_gt, const at::Tensor& audio_emb,
                                        const at::Tensor& class_id, const at::Tensor& ref_pose,
                                        const at::Tensor& eps) {
  if (!encoder) throw Error("PoseVAE: the CVAE encoder was not built (PoseVAEConfig::training_parts = false)");
  const CVAEEncoderOutput enc = encoder->forward(pose_motion_gt, audio_emb, class_id, ref_pose);
  const at::Tensor z = enc.mu + eps * at::exp(0.5 * enc.logvar);
  return {enc.mu, enc.logvar, decoder->forward(audio_emb, z, class_id, ref_pose)};
}

at::Tensor CVAEImpl::test(const at::Tensor& audio_emb, const at::Tensor& z, const at::Tensor& class_id,
                          const at::Tensor& ref_pose) {
  return decoder->forward(audio_emb, z, class_id, ref_pose);
}

// --- discriminator ---------------------------------------------------------------

ConvNormRelu1dImpl::ConvNormRelu1dImpl(int64_t cin, int64_t cout, int64_t kernel, int64_t stride, int64_t padding,
                                       bool leaky_)
    : leaky(leaky_) {
  conv = register_module(
      "conv", torch::nn::Conv1d(torch::nn::Conv1dOptions(cin, cout, kernel).stride(stride).padding(padding).bias(false)));
  norm = register_module("norm", torch::nn::BatchNorm1d(cout));
}

at::Tensor ConvNormRelu1dImpl::forward(const at::Tensor& x) {
  const at::Tensor y = norm->forward(conv->forward(x));
  return leaky ? at::leaky_relu(y, 0.2) : at::relu(y);
}

PoseSequenceDiscriminatorImpl::PoseSequenceDiscriminatorImpl(const PoseVAEConfig& cfg) {
  const bool leaky = cfg.discriminator_leaky_relu;
  seq = register_module(
      "seq", torch::nn::Sequential(
                 ConvNormRelu1d(cfg.discriminator_input_channels, 256, 4, 2, 1, leaky),
                 ConvNormRelu1d(256, 512, 4, 2, 1, leaky), ConvNormRelu1d(512, 1024, 3, 1, 1, leaky),
                 torch::nn::Conv1d(torch::nn::Conv1dOptions(1024, 1, 3).stride(1).padding(1).bias(true))));
}

at::Tensor PoseSequenceDiscriminatorImpl::forward(const at::Tensor& x) {
  // (B, T, ...) -> channels-first (B, C, T).
  const at::Tensor y = x.reshape({x.size(0), x.size(1), -1}).transpose(1, 2);
  return seq->forward(y).squeeze(1);
}

// --- Audio2Pose ------------------------------------------------------------------

PoseVAEImpl::PoseVAEImpl(const PoseVAEConfig& cfg_) : cfg(cfg_) {
  audio_encoder = register_module("audio_encoder", PoseAudioEncoder());
  netG = register_module("netG", CVAE(cfg));
  if (cfg.training_parts) netD_motion = register_module("netD_motion", PoseSequenceDiscriminator(cfg));
}

int64_t pose_vae_chunk_count(int64_t frames, int64_t seq_len) {
  const int64_t n = frames > 0 ? frames - 1 : 0;
  return n / seq_len + (n % seq_len != 0 ? 1 : 0);
}

PoseSequence pose_vae_generate(PoseVAEImpl& net, const at::Tensor& mels, const at::Tensor& ref_pose,
                               const at::Tensor& class_id, const at::Tensor& z) {
  const PoseVAEConfig& cfg = net.cfg;
  if (mels.dim() != 5 || mels.size(1) < 1)
    throw Error("PoseVAE: mels must be (B, T, 1, 80, 16) with T >= 1, got " + shape_of(mels));
  const int64_t b = mels.size(0), frames = mels.size(1), len = cfg.seq_len;
  if (ref_pose.dim() != 2 || ref_pose.size(0) != b || ref_pose.size(1) != cfg.pose_dim)
    throw Error("PoseVAE: ref_pose must be (B, 6), got " + shape_of(ref_pose));
  const int64_t n = frames - 1, div = n / len, re = n % len;
  const int64_t chunks = pose_vae_chunk_count(frames, len);
  if (z.dim() != 3 || z.size(0) != chunks || z.size(1) != b || z.size(2) != cfg.latent_size)
    throw Error("PoseVAE: a clip of " + std::to_string(frames) + " frames needs z of shape (" +
                std::to_string(chunks) + ", " + std::to_string(b) + ", " + std::to_string(cfg.latent_size) +
                "), got " + shape_of(z));

  // Frame 0 is the reference frame: zero motion, and its window is skipped.
  const at::Tensor used = mels.slice(1, 1);
  std::vector<at::Tensor> parts{at::zeros({b, 1, cfg.pose_dim}, ref_pose.options())};
  for (int64_t k = 0; k < div; ++k) {
    const at::Tensor emb = net.audio_encoder->forward(used.slice(1, k * len, (k + 1) * len));
    parts.push_back(net.netG->test(emb, z[k], class_id, ref_pose));
  }
  if (re != 0) {
    // The last seq_len windows (all of them when fewer exist) ...
    at::Tensor emb = net.audio_encoder->forward(used.slice(1, std::max<int64_t>(n - len, 0), n));
    if (emb.size(1) < len) {
      // ... front-padded by repeating the first embedding.
      const at::Tensor pad = emb.slice(1, 0, 1).expand({b, len - emb.size(1), emb.size(2)});
      emb = at::cat({pad, emb}, 1);
    }
    const at::Tensor motion = net.netG->test(emb, z[div], class_id, ref_pose);
    parts.push_back(motion.slice(1, len - re, len));
  }
  PoseSequence out;
  out.pose_motion = at::cat(parts, 1);
  out.pose = ref_pose.unsqueeze(1) + out.pose_motion;
  return out;
}

}  // namespace tavce::nn
