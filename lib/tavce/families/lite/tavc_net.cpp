#include "tavce/families/lite/tavc_net.h"

#include <ATen/ATen.h>
#include <torch/nn/modules/activation.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>

#include "tavce/error.h"
#include "tavce/io/safetensors.h"
#include "tavce/io/tensor_io.h"
#include "tavce/families/lite/lite_bundle.h"
#include "tavce/models/bundle_weights.h"
#include "tavce/nn/state_dict.h"

namespace tavce::lite {

TavcNetConfig TavcNetConfig::from_json(const nlohmann::json& j) {
  TavcNetConfig c;
  c.n_mels = j.value("n_mels", c.n_mels);
  c.window = j.value("window", c.window);
  c.channels = j.value("channels", c.channels);
  c.components = j.value("components", c.components);
  c.hidden = j.value("hidden", c.hidden);
  c.dim = j.value("dim", c.dim);
  c.similarity = j.value("similarity", c.similarity);
  if (c.similarity != "cos2" && c.similarity != "cos")
    throw Error("lite TAVC config: similarity must be \"cos2\" or \"cos\", not \"" + c.similarity + "\"");
  if (c.n_mels < 1 || c.window != 16 || c.channels < 1 || c.components < 1 || c.hidden < 1 || c.dim < 1)
    throw Error("lite TAVC config: sizes must be positive and window must be 16 (the mel windowing)");
  return c;
}

nlohmann::json TavcNetConfig::to_json() const {
  return {{"n_mels", n_mels},         {"window", window}, {"channels", channels},
          {"components", components}, {"hidden", hidden}, {"dim", dim}, {"similarity", similarity}};
}

TavcNetImpl::TavcNetImpl(const TavcNetConfig& c) : cfg(c) {
  namespace tnn = torch::nn;
  audio_encoder = register_module(
      "audio_encoder",
      tnn::Sequential(tnn::Conv1d(tnn::Conv1dOptions(c.n_mels, c.channels, 3).padding(1)), tnn::ReLU(),
                      tnn::Conv1d(tnn::Conv1dOptions(c.channels, c.channels, 3).stride(2).padding(1)), tnn::ReLU(),
                      tnn::Conv1d(tnn::Conv1dOptions(c.channels, 2 * c.channels, 3).stride(2).padding(1)),
                      tnn::ReLU(), tnn::Flatten(), tnn::Linear(2 * c.channels * (c.window / 4), c.dim)));
  motion_encoder = register_module(
      "motion_encoder", tnn::Sequential(tnn::Linear(c.components, c.hidden), tnn::Tanh(),
                                        tnn::Linear(c.hidden, c.hidden), tnn::Tanh(), tnn::Linear(c.hidden, c.dim)));
}

at::Tensor TavcNetImpl::audio(const at::Tensor& windows) { return audio_encoder->forward(windows); }

at::Tensor TavcNetImpl::motion(const at::Tensor& coeffs) { return motion_encoder->forward(coeffs); }

at::Tensor TavcNetImpl::similarity(const at::Tensor& a, const at::Tensor& b) const {
  return cfg.similarity == "cos" ? cosine(a, b) : squared_cosine(a, b);
}

at::Tensor cosine(const at::Tensor& a, const at::Tensor& b) {
  return (a * b).sum(-1) / ((a * a).sum(-1) * (b * b).sum(-1) + 1e-12).sqrt();
}

at::Tensor squared_cosine(const at::Tensor& a, const at::Tensor& b) {
  // The epsilon keeps the gradient finite where a frame pair does not change.
  const at::Tensor dot = (a * b).sum(-1);
  const at::Tensor na = (a * a).sum(-1), nb = (b * b).sum(-1);
  return dot * dot / (na * nb + 1e-12);
}

at::Tensor tavc_alignment(TavcNet& net, const at::Tensor& pred, const at::Tensor& a, const at::Tensor& mask) {
  const int64_t s = pred.size(0), k = pred.size(1), l = pred.size(2);
  const at::Tensor m = net->motion(pred.permute({0, 2, 1}).reshape({s * l, k})).view({s, l, -1});
  const at::Tensor da = a.narrow(1, 1, l - 1) - a.narrow(1, 0, l - 1);
  const at::Tensor dm = m.narrow(1, 1, l - 1) - m.narrow(1, 0, l - 1);
  const at::Tensor mv = mask.narrow(1, 1, l - 1) * mask.narrow(1, 0, l - 1);
  return (net->similarity(da, dm) * mv).sum() / mv.sum().clamp_min(1.0);
}

void save_tavc(const std::string& path, const TavcModel& model) {
  nn::TensorMap t;
  for (const auto& [key, value] : nn::state_dict(*model.net)) t[key] = value.detach().to(at::kFloat).contiguous();
  for (const auto& [key, value] : motion_space_tensors(model.space)) t["motion_space." + key] = value;
  models::save_tensors(path, t,
                       {{"format", kTavcFormat},
                        {"config", model.net->cfg.to_json().dump()},
                        {"provenance", model.provenance.dump()}});
}

TavcModel load_tavc(const std::string& path) {
  const io::SafeTensors f = io::SafeTensors::open(path);
  const auto& meta = f.metadata();
  if (!meta.count("format") || meta.at("format") != kTavcFormat || !meta.count("config"))
    throw Error(path + ": not a lite TAVC file (tavce-train lite-tavc writes them)");
  const nlohmann::json cfg = nlohmann::json::parse(meta.at("config"), nullptr, false);
  if (cfg.is_discarded()) throw Error(path + ": its config metadata is not JSON");
  TavcModel m;
  m.net = TavcNet(TavcNetConfig::from_json(cfg));
  nn::TensorMap tensors = io::load_tensors(f);
  m.space = motion_space_from_tensors(nn::select_prefix(tensors, "motion_space."),
                                      static_cast<int>(m.net->cfg.components), path);
  for (auto it = tensors.begin(); it != tensors.end();)
    it = it->first.rfind("motion_space.", 0) == 0 ? tensors.erase(it) : std::next(it);
  nn::load_state_dict(*m.net, tensors, path);
  if (meta.count("provenance")) m.provenance = nlohmann::json::parse(meta.at("provenance"), nullptr, false);
  m.net->eval();
  return m;
}

}  // namespace tavce::lite
