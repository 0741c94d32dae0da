// Network configs -> the JSON a bundle's "architecture" section stores. Each
// to_json writes exactly the keys the matching nn::XConfig::from_json reads,
// so from_json(to_json(c)) rebuilds the same network (tested in test_bundle).
#pragma once

#include <nlohmann/json.hpp>

namespace tavce::nn {
struct ExpNetConfig;
struct PoseVAEConfig;
struct MappingNetConfig;
struct KPDetectorConfig;
struct SpadeGeneratorConfig;
struct ReconNetConfig;
struct CorrelationAudioEncoderConfig;
struct SyncNetConfig;
}  // namespace tavce::nn

namespace tavce::models {

nlohmann::json to_json(const nn::ExpNetConfig& c);
// yaml key names (SEQ_LEN, ...) plus "training_parts" (whether the stored
// weights include netG.encoder and netD_motion), which from_json ignores.
nlohmann::json to_json(const nn::PoseVAEConfig& c);
nlohmann::json to_json(const nn::MappingNetConfig& c);
nlohmann::json to_json(const nn::KPDetectorConfig& c);
// generator_params + common_params keys, dense_motion_params,
// spade_decoder_override and fusion (null without CERL).
nlohmann::json to_json(const nn::SpadeGeneratorConfig& c);
nlohmann::json to_json(const nn::ReconNetConfig& c);
nlohmann::json to_json(const nn::CorrelationAudioEncoderConfig& c);  // {"dim"}
nlohmann::json to_json(const nn::SyncNetConfig& c);

}  // namespace tavce::models
