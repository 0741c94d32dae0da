#include "tavce/families/lite/audio_net.h"

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>
#include <torch/nn/modules/activation.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>

#include "tavce/error.h"

namespace tavce::lite {

AudioNetConfig AudioNetConfig::from_json(const nlohmann::json& j) {
  AudioNetConfig c;
  c.n_mels = j.value("n_mels", c.n_mels);
  c.window = j.value("window", c.window);
  c.channels = j.value("channels", c.channels);
  c.embed = j.value("embed", c.embed);
  c.past = j.value("past", c.past);
  c.future = j.value("future", c.future);
  c.outputs = j.value("outputs", c.outputs);
  if (c.n_mels < 1 || c.window != 16 || c.channels < 2 || c.embed < 1 || c.past < 0 || c.future < 0 ||
      c.outputs < 1)
    throw Error("lite audio_net config: sizes must be positive and window must be 16 (the mel windowing)");
  return c;
}

nlohmann::json AudioNetConfig::to_json() const {
  return {{"n_mels", n_mels}, {"window", window}, {"channels", channels}, {"embed", embed},
          {"past", past},     {"future", future}, {"outputs", outputs}};
}

AudioNetImpl::AudioNetImpl(const AudioNetConfig& c) : cfg(c) {
  namespace tnn = torch::nn;
  const int64_t c1 = c.channels, c2 = c.channels * 3 / 2, c3 = c.channels * 2;
  frame_encoder = register_module(
      "frame_encoder",
      tnn::Sequential(tnn::Conv1d(tnn::Conv1dOptions(c.n_mels, c1, 3).padding(1)), tnn::ReLU(),
                      tnn::Conv1d(tnn::Conv1dOptions(c1, c2, 3).stride(2).padding(1)), tnn::ReLU(),
                      tnn::Conv1d(tnn::Conv1dOptions(c2, c3, 3).stride(2).padding(1)), tnn::ReLU(),
                      tnn::Flatten(), tnn::Linear(c3 * (c.window / 4), c.embed), tnn::ReLU()));
  temporal = register_module(
      "temporal", tnn::Sequential(tnn::Conv1d(tnn::Conv1dOptions(c.embed, c.embed, c.past + 1 + c.future)),
                                  tnn::ReLU(), tnn::Conv1d(tnn::Conv1dOptions(c.embed, c.outputs, 1))));
}

at::Tensor AudioNetImpl::encode(const at::Tensor& windows) { return frame_encoder->forward(windows); }

at::Tensor AudioNetImpl::decode(const at::Tensor& embeddings) { return temporal->forward(embeddings); }

at::Tensor AudioNetImpl::forward(const at::Tensor& windows) {
  const at::Tensor e = encode(windows).t().unsqueeze(0);  // (1, E, T)
  return decode(pad_edges(e, cfg.past, cfg.future)).squeeze(0).t();
}

at::Tensor pad_edges(const at::Tensor& e, int64_t past, int64_t future) {
  const int64_t t = e.size(2);
  std::vector<at::Tensor> parts;
  if (past > 0) parts.push_back(e.narrow(2, 0, 1).expand({e.size(0), e.size(1), past}));
  parts.push_back(e);
  if (future > 0) parts.push_back(e.narrow(2, t - 1, 1).expand({e.size(0), e.size(1), future}));
  return at::cat(parts, 2);
}

}  // namespace tavce::lite
