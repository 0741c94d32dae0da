#include "tavce/train/tavc_training.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <tuple>

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>

#include "tavce/error.h"

namespace tavce::train {

namespace {

constexpr const char* kCheckpointFormat = "tavce-lite-tavc-checkpoint-1";

bool valid_pair(const LiteTrainClip& c, int64_t i) {
  const bool* v = c.valid.data_ptr<bool>();
  return i >= 0 && i + 1 < c.frames() && v[i] && v[i + 1];
}

// Frame indices of one sample: the aligned pair (i, i+1) of clip `clip` and
// the negative motion pair (neg_from, neg_to) of clip `neg_clip`.
struct PairSample {
  size_t clip, neg_clip;
  int64_t i, neg_from, neg_to;
};

}  // namespace

TavcTrainConfig TavcTrainConfig::from_json(const nlohmann::json& j) {
  TavcTrainConfig c;
  if (j.contains("net")) c.net = lite::TavcNetConfig::from_json(j.at("net"));
  c.steps = j.value("steps", c.steps);
  c.batch = j.value("batch", c.batch);
  c.lr = j.value("lr", c.lr);
  c.lr_final = j.value("lr_final", c.lr_final);
  c.min_gap = j.value("min_gap", c.min_gap);
  c.shift_min = j.value("shift_min", c.shift_min);
  c.shift_max = j.value("shift_max", c.shift_max);
  c.negative_weight = j.value("negative_weight", c.negative_weight);
  c.margin = j.value("margin", c.margin);
  c.big_set = j.value("big_set", c.big_set);
  c.big_set_share = j.value("big_set_share", c.big_set_share);
  c.seed = j.value("seed", c.seed);
  if (c.steps < 1 || c.batch < 1 || !(c.lr > 0) || c.min_gap < 2 || c.shift_min < 2 || c.shift_max < c.shift_min ||
      c.big_set_share < 0 || c.big_set_share > 1)
    throw Error("lite TAVC training config: steps, batch >= 1, lr > 0, min_gap >= 2, 2 <= shift_min <= shift_max "
                "and big_set_share in [0, 1] are required");
  return c;
}

nlohmann::json TavcTrainConfig::to_json() const {
  return {{"net", net.to_json()},         {"steps", steps},         {"batch", batch},
          {"lr", lr},                     {"lr_final", lr_final},   {"min_gap", min_gap},
          {"shift_min", shift_min},       {"shift_max", shift_max}, {"negative_weight", negative_weight},
          {"margin", margin},             {"big_set", big_set},     {"big_set_share", big_set_share},
          {"seed", seed}};
}

TavcTrainer::TavcTrainer(const TavcTrainConfig& config, const LiteTrainData& data, lite::TavcNet net)
    : cfg_(config),
      data_(data),
      net_(net),
      adam_(*net),
      picker_(balanced_picker(data, config.big_set, config.big_set_share)),
      rng_(config.seed) {
  if (net_->cfg.components != data.space->components)
    throw Error("lite TAVC training: the motion encoder reads " + std::to_string(net_->cfg.components) +
                " components, the motion space has " + std::to_string(data.space->components));
}

double TavcTrainer::learning_rate(int64_t step) const {
  const double p = static_cast<double>(step) / static_cast<double>(std::max<int64_t>(1, cfg_.steps));
  const double floor = cfg_.lr * cfg_.lr_final;
  return floor + (cfg_.lr - floor) * 0.5 * (1 + std::cos(M_PI * std::min(1.0, p)));
}

void TavcTrainer::run(int64_t until_step, int64_t log_every,
                      const std::function<void(const TavcTrainProgress&)>& progress, int64_t checkpoint_every,
                      const std::function<void(int64_t)>& on_checkpoint) {
  until_step = std::min(until_step, cfg_.steps);
  net_->train();
  const int64_t b_count = cfg_.batch, k = data_.space->components;
  const auto t0 = std::chrono::steady_clock::now();
  double sum_loss = 0, sum_pos = 0, sum_neg = 0;
  int64_t n = 0;
  auto rand_int = [&](int64_t lo, int64_t hi) {  // [lo, hi]
    return lo + static_cast<int64_t>(uniform(rng_) * static_cast<double>(hi - lo + 1));
  };
  while (step_ < until_step) {
    // Draw the samples' frame indices first, then gather the tensors.
    std::vector<PairSample> samples;
    while (static_cast<int64_t>(samples.size()) < b_count) {
      PairSample s{};
      s.clip = s.neg_clip = picker_.pick(rng_);
      const LiteTrainClip& c = data_.clips[s.clip];
      s.i = rand_int(0, c.frames() - 2);
      if (!valid_pair(c, s.i)) continue;
      const bool* v = c.valid.data_ptr<bool>();
      bool found = false;
      if (uniform(rng_) < 0.5) {
        const int64_t j = rand_int(0, c.frames() - 1);
        if (std::llabs(j - s.i) >= cfg_.min_gap && v[j]) s.neg_from = s.i, s.neg_to = j, found = true;
      } else {
        const int64_t shift = rand_int(cfg_.shift_min, cfg_.shift_max) * (uniform(rng_) < 0.5 ? -1 : 1);
        for (int64_t sh : {shift, -shift})
          if (!found && valid_pair(c, s.i + sh)) s.neg_from = s.i + sh, s.neg_to = s.i + sh + 1, found = true;
      }
      if (!found) {
        // Short or patchy clip: an adjacent pair of another clip is as foreign a change.
        s.neg_clip = picker_.pick(rng_);
        const LiteTrainClip& o = data_.clips[s.neg_clip];
        const int64_t j = rand_int(0, o.frames() - 2);
        if (s.neg_clip == s.clip || !valid_pair(o, j)) continue;
        s.neg_from = j, s.neg_to = j + 1;
      }
      samples.push_back(s);
    }
    at::Tensor windows = at::empty({2 * b_count, 80, 16}, at::kFloat);
    at::Tensor coeffs = at::empty({4 * b_count, k}, at::kFloat);
    for (int64_t b = 0; b < b_count; ++b) {
      const PairSample& s = samples[static_cast<size_t>(b)];
      const LiteTrainClip& c = data_.clips[s.clip];
      const LiteTrainClip& o = data_.clips[s.neg_clip];
      windows[b].copy_(c.windows[s.i]);
      windows[b_count + b].copy_(c.windows[s.i + 1]);
      coeffs[b].copy_(c.coeffs[s.i]);
      coeffs[b_count + b].copy_(c.coeffs[s.i + 1]);
      coeffs[2 * b_count + b].copy_(o.coeffs[s.neg_from]);
      coeffs[3 * b_count + b].copy_(o.coeffs[s.neg_to]);
    }
    const at::Tensor a = net_->audio(windows), m = net_->motion(coeffs);
    const at::Tensor da = a.narrow(0, b_count, b_count) - a.narrow(0, 0, b_count);
    const at::Tensor dv_pos = m.narrow(0, b_count, b_count) - m.narrow(0, 0, b_count);
    const at::Tensor dv_neg = m.narrow(0, 3 * b_count, b_count) - m.narrow(0, 2 * b_count, b_count);
    const at::Tensor pos = net_->similarity(da, dv_pos), neg = net_->similarity(da, dv_neg);
    const at::Tensor loss = (1 - pos).mean() + cfg_.negative_weight * (neg - cfg_.margin).clamp_min(0).mean();
    adam_.zero_grad();
    loss.backward();
    const double lr = learning_rate(step_);
    ++step_;
    adam_.update(lr, step_);
    sum_loss += loss.item<double>();
    sum_pos += pos.mean().item<double>();
    sum_neg += neg.mean().item<double>();
    ++n;
    if (progress && (step_ % log_every == 0 || step_ == until_step)) {
      TavcTrainProgress p;
      p.step = step_;
      p.loss = sum_loss / n;
      p.positive = sum_pos / n;
      p.negative = sum_neg / n;
      p.lr = lr;
      p.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      progress(p);
      sum_loss = sum_pos = sum_neg = 0;
      n = 0;
    }
    if (on_checkpoint && checkpoint_every > 0 && step_ % checkpoint_every == 0) on_checkpoint(step_);
  }
  net_->eval();
}

TavcScores TavcTrainer::evaluate(const std::vector<LiteTrainClip>& clips) {
  at::NoGradGuard no_grad;
  const bool was_training = net_->is_training();
  net_->eval();
  double sp = 0, sf = 0, ss = 0;
  int64_t nf = 0, ns = 0, np = 0;
  for (const auto& c : clips) {
    const int64_t t = c.frames();
    if (t < 2) continue;
    const at::Tensor a = net_->audio(c.windows), m = net_->motion(c.coeffs);
    const at::Tensor da = a.narrow(0, 1, t - 1) - a.narrow(0, 0, t - 1);
    const at::Tensor dm = m.narrow(0, 1, t - 1) - m.narrow(0, 0, t - 1);
    // Index lists: aligned pairs, and each one's far and shifted negative.
    std::vector<int64_t> pos_i, far_i, far_j, shift_i, shift_s;
    const bool* v = c.valid.data_ptr<bool>();
    for (int64_t i = 0; i + 1 < t; ++i) {
      if (!valid_pair(c, i)) continue;
      pos_i.push_back(i);
      const int64_t j = (i + t / 2) % t;
      if (std::llabs(j - i) >= cfg_.min_gap && v[j]) far_i.push_back(i), far_j.push_back(j);
      const int64_t s = i + 11 < t ? i + 10 : i - 10;
      if (valid_pair(c, s)) shift_i.push_back(i), shift_s.push_back(s);
    }
    auto idx = [](const std::vector<int64_t>& x) { return at::tensor(x, at::kLong); };
    auto sum_similarity = [&](const at::Tensor& x, const at::Tensor& y) { return net_->similarity(x, y).sum().item<double>(); };
    if (!pos_i.empty()) sp += sum_similarity(da.index_select(0, idx(pos_i)), dm.index_select(0, idx(pos_i))), np += static_cast<int64_t>(pos_i.size());
    if (!far_i.empty())
      sf += sum_similarity(da.index_select(0, idx(far_i)), m.index_select(0, idx(far_j)) - m.index_select(0, idx(far_i))),
          nf += static_cast<int64_t>(far_i.size());
    if (!shift_i.empty())
      ss += sum_similarity(da.index_select(0, idx(shift_i)), dm.index_select(0, idx(shift_s))), ns += static_cast<int64_t>(shift_i.size());
  }
  if (was_training) net_->train();
  TavcScores r;
  r.pairs = np;
  r.positive = np ? sp / np : 0;
  r.negative_far = nf ? sf / nf : 0;
  r.negative_shift = ns ? ss / ns : 0;
  return r;
}

void TavcTrainer::save_checkpoint(const std::string& path) const {
  adam_.save_checkpoint(path, kCheckpointFormat, step_, rng_, cfg_.to_json());
}

void TavcTrainer::load_checkpoint(const std::string& path) {
  std::tie(step_, rng_) =
      adam_.load_checkpoint(path, kCheckpointFormat, "lite TAVC training checkpoint", cfg_.to_json());
}

}  // namespace tavce::train
