// A lite bundle (model.json family "lite", coefficient_space "lite-v1"):
//   architecture.audio_net     AudioNetConfig (audio_net.h)
//   architecture.motion_space  {"components": K}
//   lite.safetensors           audio_net.* (the network's state dict) and
//                              motion_space.{basis (K, 62), stddev, lo, hi (K),
//                              rest_template (68, 2)}, all float32
// docs/models.md describes it for users.
#pragma once

#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "tavce/families/lite/audio_net.h"
#include "tavce/families/lite/motion_space.h"
#include "tavce/models/bundle.h"
#include "tavce/nn/state_dict.h"

namespace tavce::lite {

inline constexpr const char* kLiteWeightsFile = "lite.safetensors";

// The motion space as tensors basis, stddev, lo, hi, rest_template (float32),
// and back; the reader throws tavce::Error naming `label` when one is missing
// or mis-shaped. Bundles store them under "motion_space.", TAVC files too.
nn::TensorMap motion_space_tensors(const MotionSpace& space);
MotionSpace motion_space_from_tensors(const nn::TensorMap& tensors, int components, const std::string& label);

// Reads the motion space of a verified lite bundle (dir). Throws tavce::Error
// naming the bundle when it is missing or inconsistent.
MotionSpace load_motion_space(const std::string& dir, const models::Bundle& bundle);
// Builds and strictly loads the audio network of a verified lite bundle.
AudioNet load_audio_net(const std::string& dir, const models::Bundle& bundle);

// Writes dir/lite.safetensors and dir/model.json for a trained network and
// its space. `provenance` goes into model.json as is.
void write_lite_bundle(const std::string& dir, const std::string& name, const std::string& description,
                       AudioNet net, const MotionSpace& space, const nlohmann::json& provenance,
                       const std::string& licence);

}  // namespace tavce::lite
