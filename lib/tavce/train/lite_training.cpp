#include "tavce/train/lite_training.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <tuple>

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>

#include "tavce/audio/mel_windows.h"
#include "tavce/coeffs/sequencing.h"
#include "tavce/error.h"
#include "tavce/families/lite/motion_extract.h"

namespace tavce::train {

namespace {

constexpr const char* kCheckpointFormat = "tavce-lite-train-checkpoint-1";

// The clip's measured audio-visual offset when it is to be applied, else 0.
int64_t sync_offset(const lite::ClipData& clip, const LiteTrainConfig& config) {
  if (!config.sync_correct) return 0;
  const auto off = clip.extra.find("av_offset_frames"), conf = clip.extra.find("av_lse_c");
  if (off == clip.extra.end() || conf == clip.extra.end()) return 0;
  try {
    const int64_t frames = std::stoll(off->second);
    const double lse_c = std::stod(conf->second);
    if (!(lse_c >= config.sync_min_lse_c) || std::llabs(frames) > config.sync_max_offset) return 0;
    return frames;
  } catch (const std::exception&) {
    throw Error("clip '" + clip.name + "': av_offset_frames / av_lse_c metadata are not numbers");
  }
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
  c.car_weight = j.value("car_weight", c.car_weight);
  c.sync_correct = j.value("sync_correct", c.sync_correct);
  c.sync_min_lse_c = j.value("sync_min_lse_c", c.sync_min_lse_c);
  c.sync_max_offset = j.value("sync_max_offset", c.sync_max_offset);
  c.big_set = j.value("big_set", c.big_set);
  c.big_set_share = j.value("big_set_share", c.big_set_share);
  c.seed = j.value("seed", c.seed);
  if (c.components < 1 || c.steps < 1 || c.segments < 1 || c.segment_frames < 2 || !(c.lr > 0) ||
      c.big_set_share < 0 || c.big_set_share > 1 || c.car_weight < 0 || c.sync_max_offset < 0)
    throw Error("lite training config: components, steps, segments >= 1, segment_frames >= 2, lr > 0, "
                "big_set_share in [0, 1], car_weight >= 0 and sync_max_offset >= 0 are required");
  return c;
}

nlohmann::json LiteTrainConfig::to_json() const {
  return {{"components", components}, {"net", net.to_json()}, {"steps", steps}, {"segments", segments},
          {"segment_frames", segment_frames}, {"lr", lr}, {"lr_final", lr_final}, {"warmup_steps", warmup_steps},
          {"velocity_weight", velocity_weight}, {"car_weight", car_weight}, {"sync_correct", sync_correct},
          {"sync_min_lse_c", sync_min_lse_c}, {"sync_max_offset", sync_max_offset}, {"big_set", big_set},
          {"big_set_share", big_set_share}, {"seed", seed}};
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
    c.av_offset = sync_offset(*e.clip, config);
    const int64_t t_count = e.frames, k = space->components;
    c.windows = at::empty({t_count, 80, 16}, at::kFloat);
    c.coeffs = at::zeros({t_count, k}, at::kFloat);
    c.valid = at::zeros({t_count}, at::kBool);
    float* w = c.windows.data_ptr<float>();
    float* y = c.coeffs.data_ptr<float>();
    bool* v = c.valid.data_ptr<bool>();
    for (int64_t t = 0; t < t_count; ++t) {
      // Audio leading the video by d frames: frame t's sound was heard at t - d.
      audio::extract_window(e.clip->mel.data(), e.clip->mel_frames(), t - c.av_offset, w + t * 80 * 16, mel_cfg);
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

BalancedClipPicker balanced_picker(const LiteTrainData& data, const std::string& big_set, double big_set_share) {
  std::vector<int64_t> frames;
  std::vector<std::string> sets;
  for (const auto& c : data.clips) frames.push_back(c.frames()), sets.push_back(c.set);
  return BalancedClipPicker(frames, sets, big_set, big_set_share);
}

LiteTrainer::LiteTrainer(const LiteTrainConfig& config, const LiteTrainData& data, lite::AudioNet net,
                         lite::TavcNet tavc)
    : cfg_(config),
      data_(data),
      net_(std::move(net)),
      tavc_(std::move(tavc)),
      adam_(*net_),
      picker_(balanced_picker(data, config.big_set, config.big_set_share)),
      rng_(config.seed) {
  if (net_->cfg.outputs != data.space->components)
    throw Error("lite training: the network predicts " + std::to_string(net_->cfg.outputs) +
                " components, the motion space has " + std::to_string(data.space->components));
  if (cfg_.car_weight > 0 && !tavc_) throw Error("lite training: car_weight > 0 needs a TAVC net (--tavc FILE)");
  if (tavc_) {
    if (tavc_->cfg.components != data.space->components)
      throw Error("lite training: the TAVC net reads " + std::to_string(tavc_->cfg.components) +
                  " components, the motion space has " + std::to_string(data.space->components));
    tavc_->eval();
    for (auto& p : tavc_->parameters()) p.set_requires_grad(false);  // frozen: CAR moves only the audio network
    at::NoGradGuard no_grad;
    for (const auto& c : data.clips) tavc_audio_.push_back(tavc_->audio(c.windows));
  }
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
  float* tw = b.target.data_ptr<float>();
  float* mw = b.mask.data_ptr<float>();
  if (tavc_) b.tavc_audio = at::zeros({s_count, len, tavc_->cfg.dim}, at::kFloat);
  for (int64_t s = 0; s < s_count; ++s) {
    const size_t clip = picker_.pick(rng_);
    const LiteTrainClip& c = data_.clips[clip];
    const int64_t t_count = c.frames();
    const int64_t start = t_count > len ? static_cast<int64_t>(uniform(rng_) * static_cast<double>(t_count - len + 1)) : 0;
    if (tavc_) {
      const int64_t n = std::min(len, t_count - start);  // frames past the clip's end stay masked
      b.tavc_audio[s].narrow(0, 0, n).copy_(tavc_audio_[clip].narrow(0, start, n));
    }
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
  double sum_loss = 0, sum_c = 0, sum_v = 0, sum_t = 0;
  int64_t n = 0;
  while (step_ < until_step) {
    Batch b = sample_batch();
    const at::Tensor pred = predict(b.windows, cfg_.segments, cfg_.segment_frames);
    auto [lc, lv] = lite_losses(pred, b.target, b.mask);
    at::Tensor loss = lc + cfg_.velocity_weight * lv;
    const at::Tensor aligned =
        tavc_ ? lite::tavc_alignment(tavc_, pred, b.tavc_audio, b.mask) : at::Tensor();
    if (cfg_.car_weight > 0) loss = loss + cfg_.car_weight * (1 - aligned);
    adam_.zero_grad();
    loss.backward();
    const double lr = learning_rate(step_);
    ++step_;
    adam_.update(lr, step_);
    sum_loss += loss.item<double>();
    sum_c += lc.item<double>();
    sum_v += lv.item<double>();
    if (aligned.defined()) sum_t += aligned.item<double>();
    ++n;
    if (progress && (step_ % log_every == 0 || step_ == until_step)) {
      LiteTrainProgress p;
      p.step = step_;
      p.loss = sum_loss / n;
      p.coeff_l1 = sum_c / n;
      p.velocity_l1 = sum_v / n;
      p.tavc = sum_t / n;
      p.lr = lr;
      p.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      progress(p);
      sum_loss = sum_c = sum_v = sum_t = 0;
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
  double sc = 0, sv = 0, st = 0, w = 0;
  for (const auto& c : clips) {
    const at::Tensor pred = net_->forward(c.windows).t().unsqueeze(0);  // (1, K, T)
    const at::Tensor mask = c.valid.to(at::kFloat).unsqueeze(0);
    auto [lc, lv] = lite_losses(pred, c.coeffs.t().unsqueeze(0), mask);
    const double frames = static_cast<double>(c.frames());
    sc += lc.item<double>() * frames;
    sv += lv.item<double>() * frames;
    if (tavc_ && c.frames() > 1)
      st += lite::tavc_alignment(tavc_, pred, tavc_->audio(c.windows).unsqueeze(0), mask).item<double>() * frames;
    w += frames;
  }
  if (was_training) net_->train();
  LiteTrainProgress p;
  p.step = step_;
  p.coeff_l1 = w > 0 ? sc / w : 0;
  p.velocity_l1 = w > 0 ? sv / w : 0;
  p.tavc = w > 0 ? st / w : 0;
  p.loss = p.coeff_l1 + cfg_.velocity_weight * p.velocity_l1 + (tavc_ ? cfg_.car_weight * (1 - p.tavc) : 0.0);
  return p;
}

void LiteTrainer::save_checkpoint(const std::string& path) const {
  adam_.save_checkpoint(path, kCheckpointFormat, step_, rng_, cfg_.to_json());
}

void LiteTrainer::load_checkpoint(const std::string& path) {
  std::tie(step_, rng_) = adam_.load_checkpoint(path, kCheckpointFormat, "lite training checkpoint", cfg_.to_json());
}

}  // namespace tavce::train
