#include "tavce/families/lite/lite_bundle.h"

#include <filesystem>

#include <ATen/ATen.h>

#include "tavce/error.h"
#include "tavce/models/bundle_weights.h"
#include "tavce/nn/state_dict.h"

namespace fs = std::filesystem;

namespace tavce::lite {

namespace {

std::vector<double> to_vector(const at::Tensor& t) {
  const at::Tensor d = t.to(at::kDouble).contiguous();
  return std::vector<double>(d.data_ptr<double>(), d.data_ptr<double>() + d.numel());
}

at::Tensor to_tensor(const std::vector<double>& v, std::vector<int64_t> shape) {
  return at::tensor(v, at::kDouble).to(at::kFloat).reshape(shape);
}

}  // namespace

nn::TensorMap motion_space_tensors(const MotionSpace& space) {
  std::vector<double> rest;
  for (const auto& p : space.rest_template) {
    rest.push_back(p.x);
    rest.push_back(p.y);
  }
  return {{"basis", to_tensor(space.basis, {space.components, kMouthJawValues})},
          {"stddev", to_tensor(space.stddev, {space.components})},
          {"lo", to_tensor(space.lo, {space.components})},
          {"hi", to_tensor(space.hi, {space.components})},
          {"rest_template", to_tensor(rest, {kLandmarks, 2})}};
}

MotionSpace motion_space_from_tensors(const nn::TensorMap& t, int components, const std::string& label) {
  auto need = [&](const std::string& key, int64_t numel) {
    const auto it = t.find(key);
    if (it == t.end()) throw Error(label + ": motion_space." + key + " is missing");
    if (it->second.numel() != numel)
      throw Error(label + ": motion_space." + key + " holds " + std::to_string(it->second.numel()) +
                  " values, expected " + std::to_string(numel));
    return to_vector(it->second);
  };
  MotionSpace m;
  m.components = components;
  m.basis = need("basis", static_cast<int64_t>(components) * kMouthJawValues);
  m.stddev = need("stddev", components);
  m.lo = need("lo", components);
  m.hi = need("hi", components);
  const std::vector<double> rest = need("rest_template", kLandmarks * 2);
  for (size_t i = 0; i + 1 < rest.size(); i += 2) m.rest_template.emplace_back(rest[i], rest[i + 1]);
  m.validate(label);
  return m;
}

MotionSpace load_motion_space(const std::string& dir, const models::Bundle& bundle) {
  const std::string label = "model bundle '" + bundle.name + "' (" + dir + ")";
  if (!bundle.is_lite() || !bundle.has_module("motion_space"))
    throw Error(label + " is not a lite bundle (no motion_space)");
  return motion_space_from_tensors(models::bundle_module_tensors(dir, bundle, "motion_space"),
                                   bundle.architecture.at("motion_space").value("components", 0), label);
}

AudioNet load_audio_net(const std::string& dir, const models::Bundle& bundle) {
  if (!bundle.is_lite() || !bundle.has_module("audio_net"))
    throw Error("model bundle '" + bundle.name + "' (" + dir + ") is not a lite bundle (no audio_net)");
  AudioNet net(AudioNetConfig::from_json(bundle.architecture.at("audio_net")));
  models::load_bundle_module(dir, bundle, "audio_net", *net);
  net->eval();
  return net;
}

void write_lite_bundle(const std::string& dir, const std::string& name, const std::string& description, AudioNet net,
                       const MotionSpace& space, const nlohmann::json& provenance, const std::string& licence) {
  space.validate("lite bundle '" + name + "'");
  fs::create_directories(dir);
  nn::TensorMap t;
  for (const auto& [key, value] : nn::state_dict(*net)) t["audio_net." + key] = value.detach().to(at::kFloat).contiguous();
  for (const auto& [key, value] : motion_space_tensors(space)) t["motion_space." + key] = value;
  models::save_tensors((fs::path(dir) / kLiteWeightsFile).string(), t, {{"format", "tavce-lite-1"}});

  models::Bundle b;
  b.name = name;
  b.description = description;
  b.family = "lite";
  b.architecture = {{"audio_net", net->cfg.to_json()}, {"motion_space", {{"components", space.components}}}};
  b.coefficient_space = kLiteSpace;
  b.provenance = provenance;
  b.licence = licence;
  b.files[kLiteWeightsFile] = models::describe_file(dir, kLiteWeightsFile, {"audio_net", "motion_space"},
                                                    {{"audio_net", "audio_net."}, {"motion_space", "motion_space."}});
  models::write_bundle(dir, b);
}

}  // namespace tavce::lite
