#include "tavce/train/lite_training.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>

#include "tavce/audio/mel_windows.h"
#include "tavce/coeffs/sequencing.h"
#include "tavce/error.h"
#include "tavce/families/lite/motion_extract.h"
#include "tavce/io/safetensors.h"
#include "tavce/io/tensor_io.h"
#include "tavce/models/bundle_weights.h"

namespace tavce::train {

namespace {

constexpr const char* kCheckpointFormat = "tavce-lite-train-checkpoint-1";

uint64_t splitmix(uint64_t& s) {
  uint64_t z = (s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}
double uniform(uint64_t& s) { return static_cast<double>(splitmix(s) >> 11) * (1.0 / 9007199254740992.0); }

std::string set_of(const std::string& name) {
  const auto slash = name.find('/');
  return slash == std::string::npos ? std::string() : name.substr(0, slash);
}

}  // namespace

LiteTrainConfig LiteTrainConfig::from_json(const nlohmann::json& j) {
  LiteTrainConfig c;
  c.components = j.value("components", c.components);
  if (j.contains("net")) c.net = lite::AudioNetConfig::from_json(j.at("net"));
  c.net.outputs = c.components;
  c.steps = j.value("steps", c.steps);
  c.segments = j.value("segments", c.segments);
  c.segment_frames = j.value("segment_frames", c.segment_frames);
  c.lr = j.value("lr", c.lr);
  c.lr_final = j.value("lr_final", c.lr_final);
  c.warmup_steps = j.value("warmup_steps", c.warmup_steps);
  c.velocity_weight = j.value("velocity_weight", c.velocity_weight);
  c.big_set = j.value("big_set", c.big_set);
  c.big_set_share = j.value("big_set_share", c.big_set_share);
  c.seed = j.value("seed", c.seed);
  if (c.components < 1 || c.steps < 1 || c.segments < 1 || c.segment_frames < 2 || !(c.lr > 0) ||
      c.big_set_share < 0 || c.big_set_share > 1)
    throw Error("lite training config: components, steps, segments >= 1, segment_frames >= 2, lr > 0 and "
                "big_set_share in [0, 1] are required");
  return c;
}

nlohmann::json LiteTrainConfig::to_json() const {
  return {{"components", components}, {"net", net.to_json()}, {"steps", steps}, {"segments", segments},
          {"segment_frames", segment_frames}, {"lr", lr}, {"lr_final", lr_final}, {"warmup_steps", warmup_steps},
          {"velocity_weight", velocity_weight}, {"big_set", big_set}, {"big_set_share", big_set_share},
          {"seed", seed}};
}

LiteTrainData prepare_lite_data(const std::vector<lite::ClipData>& clips, const LiteTrainConfig& config,
                                std::shared_ptr<lite::MotionSpace> space, std::vector<std::string>* skipped) {
  struct Extracted {
    const lite::ClipData* clip;
    lite::ClipMotion motion;
    int64_t frames;
  };
  std::vector<Extracted> ok;
  for (const auto& c : clips) {
    try {
      lite::ClipMotion m = lite::extract_motion(c);
      const int64_t t = std::min<int64_t>(c.frames(), coeffs::frames_for_mel_frames(c.mel_frames()));
      if (t < 5) throw Error("clip '" + c.name + "': shorter than 5 frames");
      ok.push_back({&c, std::move(m), t});
    } catch (const Error& e) {
      if (skipped) skipped->push_back(e.what());
    }
  }
  if (ok.empty()) throw Error("lite training: no usable clip (each needs a tracked face and audio)");

  if (!space) {
    // Balance the fit like the sampling: the big set contributes about as
    // many rows as its share of the segments.
    int64_t big_frames = 0, other_frames = 0;
    for (const auto& e : ok) (set_of(e.clip->name) == config.big_set ? big_frames : other_frames) += e.frames;
    int64_t stride = 1;
    if (big_frames > 0 && other_frames > 0) stride = std::max<int64_t>(1, big_frames / std::max<int64_t>(1, other_frames));
    std::vector<std::vector<double>> rows;
    lite::Points template_sum(lite::kLandmarks, cv::Point2d(0, 0));
    for (const auto& e : ok) {
      const bool big = set_of(e.clip->name) == config.big_set;
      for (int64_t t = 0; t < e.frames; t += big ? stride : 1)
        if (e.motion.valid[t]) rows.push_back(e.motion.displacement[t]);
      for (int i = 0; i < lite::kLandmarks; ++i) template_sum[i] += e.motion.rest[i];
    }
    for (auto& p : template_sum) p *= 1.0 / static_cast<double>(ok.size());
    space = std::make_shared<lite::MotionSpace>(lite::MotionSpace::fit(rows, config.components, template_sum));
  }
  space->validate("lite training");

  LiteTrainData data;
  data.space = space;
  const audio::MelConfig mel_cfg;
  for (const auto& e : ok) {
    LiteTrainClip c;
    c.name = e.clip->name;
    c.set = set_of(c.name);
    const int64_t t_count = e.frames, k = space->components;
    c.windows = at::empty({t_count, 80, 16}, at::kFloat);
    c.coeffs = at::zeros({t_count, k}, at::kFloat);
    c.valid = at::zeros({t_count}, at::kBool);
    float* w = c.windows.data_ptr<float>();
    float* y = c.coeffs.data_ptr<float>();
    bool* v = c.valid.data_ptr<bool>();
    for (int64_t t = 0; t < t_count; ++t) {
      audio::extract_window(e.clip->mel.data(), e.clip->mel_frames(), t, w + t * 80 * 16, mel_cfg);
      if (!e.motion.valid[t]) continue;
      v[t] = true;
      const auto proj = space->project(e.motion.displacement[t].data());
      for (int64_t j = 0; j < k; ++j) y[t * k + j] = static_cast<float>(proj[j]);
    }
    data.clips.push_back(std::move(c));
  }
  return data;
}

std::pair<at::Tensor, at::Tensor> lite_losses(const at::Tensor& pred, const at::Tensor& target, const at::Tensor& mask) {
  const int64_t k = pred.size(1);
  const at::Tensor m = mask.unsqueeze(1);  // (S, 1, L)
  const at::Tensor coeff = ((pred - target).abs() * m).sum() / (m.sum() * k).clamp_min(1.0);
  const at::Tensor dp = pred.narrow(2, 1, pred.size(2) - 1) - pred.narrow(2, 0, pred.size(2) - 1);
  const at::Tensor dt = target.narrow(2, 1, target.size(2) - 1) - target.narrow(2, 0, target.size(2) - 1);
  const at::Tensor mv = m.narrow(2, 1, m.size(2) - 1) * m.narrow(2, 0, m.size(2) - 1);
  const at::Tensor vel = ((dp - dt).abs() * mv).sum() / (mv.sum() * k).clamp_min(1.0);
  return {coeff, vel};
}

LiteTrainer::LiteTrainer(const LiteTrainConfig& config, const LiteTrainData& data, lite::AudioNet net)
    : cfg_(config), data_(data), net_(std::move(net)), rng_(config.seed) {
  if (net_->cfg.outputs != data.space->components)
    throw Error("lite training: the network predicts " + std::to_string(net_->cfg.outputs) +
                " components, the motion space has " + std::to_string(data.space->components));
  for (const auto& item : net_->named_parameters()) {
    names_.push_back(item.key());
    params_.push_back(item.value());
    m_.push_back(at::zeros_like(item.value()));
    v_.push_back(at::zeros_like(item.value()));
  }
  for (size_t i = 0; i < data.clips.size(); ++i) (data.clips[i].set == cfg_.big_set ? big_ : other_).push_back(i);
}

double LiteTrainer::learning_rate(int64_t step) const {
  if (step < cfg_.warmup_steps) return cfg_.lr * static_cast<double>(step + 1) / static_cast<double>(cfg_.warmup_steps);
  const double p = static_cast<double>(step - cfg_.warmup_steps) /
                   static_cast<double>(std::max<int64_t>(1, cfg_.steps - cfg_.warmup_steps));
  const double floor = cfg_.lr * cfg_.lr_final;
  return floor + (cfg_.lr - floor) * 0.5 * (1 + std::cos(M_PI * std::min(1.0, p)));
}

LiteTrainer::Batch LiteTrainer::sample_batch() {
  const int64_t s_count = cfg_.segments, len = cfg_.segment_frames;
  const int64_t past = net_->cfg.past, future = net_->cfg.future, span = past + len + future;
  const int64_t k = data_.space->components;
  Batch b;
  b.windows = at::empty({s_count * span, 80, 16}, at::kFloat);
  b.target = at::zeros({s_count, k, len}, at::kFloat);
  b.mask = at::zeros({s_count, len}, at::kFloat);
  // Within a group, clips are drawn in proportion to their length.
  auto pick = [&](const std::vector<size_t>& group) {
    int64_t total = 0;
    for (size_t i : group) total += data_.clips[i].frames();
    int64_t r = static_cast<int64_t>(uniform(rng_) * static_cast<double>(total));
    for (size_t i : group) {
      if (r < data_.clips[i].frames()) return i;
      r -= data_.clips[i].frames();
    }
    return group.back();
  };
  float* tw = b.target.data_ptr<float>();
  float* mw = b.mask.data_ptr<float>();
  for (int64_t s = 0; s < s_count; ++s) {
    const bool from_big = !big_.empty() && (other_.empty() || uniform(rng_) < cfg_.big_set_share);
    const LiteTrainClip& c = data_.clips[pick(from_big ? big_ : other_)];
    const int64_t t_count = c.frames();
    const int64_t start = t_count > len ? static_cast<int64_t>(uniform(rng_) * static_cast<double>(t_count - len + 1)) : 0;
    for (int64_t j = 0; j < span; ++j) {
      const int64_t f = std::clamp<int64_t>(start - past + j, 0, t_count - 1);
      b.windows[s * span + j].copy_(c.windows[f]);
    }
    const float* y = c.coeffs.data_ptr<float>();
    const bool* v = c.valid.data_ptr<bool>();
    for (int64_t j = 0; j < len; ++j) {
      const int64_t f = start + j;
      if (f >= t_count || !v[f]) continue;
      mw[s * len + j] = 1.0f;
      for (int64_t q = 0; q < k; ++q) tw[(s * k + q) * len + j] = y[f * k + q];
    }
  }
  return b;
}

at::Tensor LiteTrainer::predict(const at::Tensor& windows, int64_t segments, int64_t frames) {
  const int64_t span = net_->cfg.past + frames + net_->cfg.future;
  const at::Tensor e = net_->encode(windows).view({segments, span, -1}).permute({0, 2, 1});
  return net_->decode(e);  // (S, K, frames)
}

void LiteTrainer::run(int64_t until_step, int64_t log_every, const std::function<void(const LiteTrainProgress&)>& progress,
                      int64_t checkpoint_every, const std::function<void(int64_t)>& on_checkpoint) {
  until_step = std::min(until_step, cfg_.steps);
  net_->train();
  const auto t0 = std::chrono::steady_clock::now();
  double sum_loss = 0, sum_c = 0, sum_v = 0;
  int64_t n = 0;
  constexpr double b1 = 0.9, b2 = 0.999, eps = 1e-8;
  while (step_ < until_step) {
    Batch b = sample_batch();
    const at::Tensor pred = predict(b.windows, cfg_.segments, cfg_.segment_frames);
    auto [lc, lv] = lite_losses(pred, b.target, b.mask);
    const at::Tensor loss = lc + cfg_.velocity_weight * lv;
    for (auto& p : params_) p.mutable_grad() = at::Tensor();
    loss.backward();
    const double lr = learning_rate(step_);
    ++step_;
    {
      at::NoGradGuard no_grad;
      const double c1 = 1 - std::pow(b1, static_cast<double>(step_));
      const double c2 = 1 - std::pow(b2, static_cast<double>(step_));
      for (size_t i = 0; i < params_.size(); ++i) {
        const at::Tensor& g = params_[i].grad();
        if (!g.defined()) continue;
        m_[i].mul_(b1).add_(g, 1 - b1);
        v_[i].mul_(b2).addcmul_(g, g, 1 - b2);
        params_[i].addcdiv_(m_[i] / c1, (v_[i] / c2).sqrt_().add_(eps), -lr);
      }
    }
    sum_loss += loss.item<double>();
    sum_c += lc.item<double>();
    sum_v += lv.item<double>();
    ++n;
    if (progress && (step_ % log_every == 0 || step_ == until_step)) {
      LiteTrainProgress p;
      p.step = step_;
      p.loss = sum_loss / n;
      p.coeff_l1 = sum_c / n;
      p.velocity_l1 = sum_v / n;
      p.lr = lr;
      p.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      progress(p);
      sum_loss = sum_c = sum_v = 0;
      n = 0;
    }
    if (on_checkpoint && checkpoint_every > 0 && step_ % checkpoint_every == 0) on_checkpoint(step_);
  }
  net_->eval();
}

LiteTrainProgress LiteTrainer::evaluate(const std::vector<LiteTrainClip>& clips) {
  at::NoGradGuard no_grad;
  const bool was_training = net_->is_training();
  net_->eval();
  double sc = 0, sv = 0, w = 0;
  for (const auto& c : clips) {
    const at::Tensor pred = net_->forward(c.windows).t().unsqueeze(0);  // (1, K, T)
    const at::Tensor mask = c.valid.to(at::kFloat).unsqueeze(0);
    auto [lc, lv] = lite_losses(pred, c.coeffs.t().unsqueeze(0), mask);
    const double frames = static_cast<double>(c.frames());
    sc += lc.item<double>() * frames;
    sv += lv.item<double>() * frames;
    w += frames;
  }
  if (was_training) net_->train();
  LiteTrainProgress p;
  p.step = step_;
  p.coeff_l1 = w > 0 ? sc / w : 0;
  p.velocity_l1 = w > 0 ? sv / w : 0;
  p.loss = p.coeff_l1 + cfg_.velocity_weight * p.velocity_l1;
  return p;
}

void LiteTrainer::save_checkpoint(const std::string& path) const {
  nn::TensorMap t;
  for (size_t i = 0; i < params_.size(); ++i) {
    t["param." + names_[i]] = params_[i].detach().contiguous();
    t["adam_m." + names_[i]] = m_[i].contiguous();
    t["adam_v." + names_[i]] = v_[i].contiguous();
  }
  models::save_tensors(path, t,
                       {{"format", kCheckpointFormat},
                        {"step", std::to_string(step_)},
                        {"rng", std::to_string(rng_)},
                        {"config", cfg_.to_json().dump()}});
}

void LiteTrainer::load_checkpoint(const std::string& path) {
  const io::SafeTensors f = io::SafeTensors::open(path);
  const auto& meta = f.metadata();
  if (!meta.count("format") || meta.at("format") != kCheckpointFormat)
    throw Error(path + ": not a lite training checkpoint");
  if (meta.count("config") && nlohmann::json::parse(meta.at("config")) != cfg_.to_json())
    throw Error(path + ": the checkpoint was made with another training config; resume with the same config");
  const auto tensors = io::load_tensors(f);
  at::NoGradGuard no_grad;
  for (size_t i = 0; i < params_.size(); ++i) {
    for (auto [prefix, dst] : {std::pair<const char*, at::Tensor*>{"param.", &params_[i]}, {"adam_m.", &m_[i]},
                               {"adam_v.", &v_[i]}}) {
      const auto it = tensors.find(prefix + names_[i]);
      if (it == tensors.end() || it->second.sizes() != dst->sizes())
        throw Error(path + ": missing or mis-shaped '" + prefix + names_[i] + "'");
      dst->copy_(it->second);
    }
  }
  step_ = std::stoll(meta.at("step"));
  rng_ = std::stoull(meta.at("rng"));
}

}  // namespace tavce::train
