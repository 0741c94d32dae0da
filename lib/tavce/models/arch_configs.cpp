#include "tavce/models/arch_configs.h"

#include "tavce/error.h"
#include "tavce/nn/correlation.h"
#include "tavce/nn/expnet.h"
#include "tavce/nn/kp_detector.h"
#include "tavce/nn/mapping_net.h"
#include "tavce/nn/pose_vae.h"
#include "tavce/nn/recon_net.h"
#include "tavce/nn/spade_generator.h"
#include "tavce/nn/syncnet.h"

namespace tavce::models {
using nlohmann::json;

json to_json(const nn::ExpNetConfig& c) { return {{"exp_dim", c.exp_dim}, {"ratio_dim", c.ratio_dim}}; }

json to_json(const nn::PoseVAEConfig& c) {
  // pose_dim is hard-coded in the reference (and from_json), so it is not stored.
  // training_parts tells a loader which keys the weight file holds.
  return {{"SEQ_LEN", c.seq_len},
          {"LATENT_SIZE", c.latent_size},
          {"NUM_CLASSES", c.num_classes},
          {"AUDIO_EMB_IN_SIZE", c.audio_emb_in_size},
          {"AUDIO_EMB_OUT_SIZE", c.audio_emb_out_size},
          {"ENCODER_LAYER_SIZES", c.encoder_layer_sizes},
          {"DECODER_LAYER_SIZES", c.decoder_layer_sizes},
          {"DISCRIMINATOR_INPUT_CHANNELS", c.discriminator_input_channels},
          {"DISCRIMINATOR_LEAKY_RELU", c.discriminator_leaky_relu},
          {"training_parts", c.training_parts}};
}

json to_json(const nn::MappingNetConfig& c) {
  return {{"coeff_nc", c.coeff_nc}, {"descriptor_nc", c.descriptor_nc}, {"layer", c.layer},
          {"num_kp", c.num_kp}, {"num_bins", c.num_bins}};
}

json to_json(const nn::KPDetectorConfig& c) {
  return {{"block_expansion", c.block_expansion}, {"feature_channel", c.feature_channel},
          {"num_kp", c.num_kp}, {"image_channel", c.image_channel},
          {"max_features", c.max_features}, {"reshape_channel", c.reshape_channel},
          {"reshape_depth", c.reshape_depth}, {"num_blocks", c.num_blocks},
          {"temperature", c.temperature}, {"estimate_jacobian", c.estimate_jacobian},
          {"scale_factor", c.scale_factor}};
}

json to_json(const nn::SpadeGeneratorConfig& c) {
  const nn::DenseMotionConfig& d = c.dense_motion;
  const nn::SpadeDecoderConfig& s = c.decoder;
  json j = {{"image_channel", c.image_channel},
            {"feature_channel", c.feature_channel},
            {"num_kp", c.num_kp},
            {"block_expansion", c.block_expansion},
            {"max_features", c.max_features},
            {"num_down_blocks", c.num_down_blocks},
            {"reshape_channel", c.reshape_channel},
            {"reshape_depth", c.reshape_depth},
            {"num_resblocks", c.num_resblocks},
            {"estimate_occlusion_map", c.estimate_occlusion_map},
            {"estimate_jacobian", false},
            {"dense_motion_params",
             {{"block_expansion", d.block_expansion}, {"max_features", d.max_features},
              {"num_blocks", d.num_blocks}, {"reshape_depth", d.reshape_depth}, {"compress", d.compress},
              {"num_kp", d.num_kp}, {"feature_channel", d.feature_channel},
              {"estimate_occlusion_map", d.estimate_occlusion_map}}},
            {"spade_decoder_override", {{"ic", s.ic}, {"oc", s.oc}, {"label_nc", s.label_nc}, {"nhidden", s.nhidden}}}};
  j["fusion"] = c.fusion ? json{{"feat_dim", c.fusion_feat_dim}, {"cor_dim", c.fusion_cor_dim}} : json(nullptr);
  return j;
}

json to_json(const nn::ReconNetConfig& c) {
  // from_json accepts only the ResNet-50 with the seven fixed heads; refuse to
  // describe anything else rather than write a config that cannot be read back.
  if (c.layers != std::vector<int64_t>{3, 4, 6, 3})
    throw Error("ReconNet config: only the ResNet-50 layout can be stored in a bundle");
  return {{"net_recon", "resnet50"}, {"use_last_fc", false}, {"fc_dim", c.fc_dim()}};
}

json to_json(const nn::CorrelationAudioEncoderConfig& c) { return {{"dim", c.dim}}; }

json to_json(const nn::SyncNetConfig& c) {
  return {{"num_layers_in_fc_layers", c.num_layers_in_fc_layers},
          {"audio_channels", c.audio_channels},
          {"lip_channels", c.lip_channels},
          {"lip_downsample", c.lip_downsample},
          {"lip_region", c.lip_region}};
}

}  // namespace tavce::models
