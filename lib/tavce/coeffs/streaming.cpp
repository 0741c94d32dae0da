#include "tavce/coeffs/streaming.h"

#include <algorithm>
#include <deque>
#include <string>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include "tavce/audio/mel_config.h"
#include "tavce/audio/mel_windows.h"
#include "tavce/coeffs/audio2coeff.h"
#include "tavce/coeffs/blink.h"
#include "tavce/coeffs/savgol.h"
#include "tavce/error.h"
#include "tavce/nn/cerl.h"

namespace tavce::coeffs {

namespace {

constexpr int64_t kMels = 80;
constexpr int64_t kWin = 16;

// Rows [0, n) of a model-free simulation of the emission rule for a stream
// that implies T video frames (not final): how many frames can be out. Used
// only for latency_frames(); mirrors Impl::process's conditions.
int64_t emittable(Flavour flavour, int64_t seq_len, int64_t frames) {
  const int64_t mref = mel_frames_for_frames(frames);
  int64_t n_win = 0;
  while (n_win < frames && audio::window_end(n_win, audio::MelConfig{}) <= mref) ++n_win;
  int64_t k_rows = frames >= 1 ? 1 : 0;
  for (int64_t k = 0;; ++k) {
    const PoseChunk c = full_pose_chunk(flavour, k, seq_len);
    if (c.first_frame + c.count > frames || c.windows.back() >= n_win) break;
    k_rows = c.first_frame + c.count;
  }
  int64_t n_pose = k_rows;
  if (flavour == Flavour::SadTalker) n_pose = k_rows >= kSavgolMaxWindow ? k_rows - kSavgolMaxWindow / 2 : 0;
  // Worst case of a blink: frame t needs T >= t + 6.
  const int64_t n_blink = std::max<int64_t>(0, frames - 5);
  return std::min({n_win, n_pose, n_blink});
}

}  // namespace

struct StreamingAudio2Coeff::Impl {
  std::shared_ptr<Audio2CoeffNets> nets;
  StreamingOptions opt;
  bool gate_on = false;
  int64_t seq_len = 32, latent = 64, latency = 0;
  at::Tensor ref_exp, ref_pose, class_id;  // (64), (1, 6), (1,)

  // Stream state.
  std::vector<float> mel;  // mel frames mel_base .. mel_frames-1, 80 floats each
  int64_t mel_base = 0;    // mel frames before this one were dropped (no window needs them)
  int64_t mel_frames = 0;
  bool done = false;
  int64_t final_frames = -1;
  at::Generator gen;
  BlinkSchedule blinks{0};
  // Per frame: (512), (512), (128); entries no later step reads are released
  // (set undefined) so a long stream does not keep every embedding.
  std::vector<at::Tensor> exp_emb, pose_emb, corr_feat;
  int64_t freed_exp = 0, freed_pose = 0, freed_corr = 0;
  std::vector<float> exp_rows, raw_pose, pose_rows, gate_rows;
  int64_t n_win = 0, n_exp = 0, n_chunks = 0, n_raw = 0, n_pose = 0, n_gate = 0, n_out = 0;
  std::deque<std::vector<float>> ready;

  void clear() {
    mel.clear();
    mel_base = 0;
    mel_frames = 0;
    freed_exp = freed_pose = freed_corr = 0;
    done = false;
    final_frames = -1;
    gen = make_z_generator(opt.seed);
    blinks = BlinkSchedule(opt.seed);
    exp_emb.clear();
    pose_emb.clear();
    corr_feat.clear();
    exp_rows.clear();
    raw_pose.clear();
    pose_rows.clear();
    gate_rows.clear();
    n_win = n_exp = n_chunks = n_raw = n_pose = n_gate = n_out = 0;
    ready.clear();
  }

  int64_t known_frames() const { return done ? final_frames : frames_for_mel_frames(mel_frames); }

  void process() {
    c10::InferenceMode guard;
    const int64_t frames = known_frames();
    // Windows may read mel frames up to the reference's mel length for T
    // frames; before the end that bound only grows, so a window inside it
    // never changes later.
    const int64_t mref = done ? std::min(mel_frames, mel_frames_for_frames(frames)) : mel_frames_for_frames(frames);
    const audio::MelConfig mcfg;
    const audio::MelWindowing wcfg;

    // 1. Mel windows of the frames that have them, encoded once.
    const int64_t first_new = n_win;
    while (n_win < frames && (done || audio::window_end(n_win, mcfg, wcfg) <= mref)) ++n_win;
    if (n_win > first_new) {
      at::Tensor windows = at::empty({n_win - first_new, 1, kMels, kWin}, at::kFloat);
      float* w = windows.data_ptr<float>();
      for (int64_t t = first_new; t < n_win; ++t)
        extract_window(t, mref, w + (t - first_new) * kMels * kWin);
      const at::Tensor e = nets->expnet->audio_encoder->embed(windows);
      const at::Tensor p = nets->pose_vae->audio_encoder->audio_encoder->embed(windows);
      for (int64_t i = 0; i < e.size(0); ++i) {
        exp_emb.push_back(e[i]);
        pose_emb.push_back(p[i]);
      }
      if (gate_on) {
        const at::Tensor f = nets->correlation->forward(windows);
        for (int64_t i = 0; i < f.size(0); ++i) corr_feat.push_back(f[i]);
      }
    }

    // 2. ExpNet for the frames whose window and blink ratio are known.
    const bool eyeblink = !opt.ref_eyeblink.empty();
    std::vector<float> ratios, refs;
    int64_t n_new_exp = 0;
    for (int64_t t = n_exp; t < n_win; ++t) {
      float r = 0.0f;
      if (opt.use_blink && !eyeblink) {
        if (!opt.injected_ratio.empty())
          r = t < int64_t(opt.injected_ratio.size()) ? opt.injected_ratio[size_t(t)] : 0.0f;
        else if (!blinks.ratio(t, frames, done, &r))
          break;
      }
      ratios.push_back(r);
      if (eyeblink) {
        const int64_t n = int64_t(opt.ref_eyeblink.size()) / kExpDim;
        const float* row = opt.ref_eyeblink.data() + (t % n) * kExpDim;
        refs.insert(refs.end(), row, row + kExpDim);
      } else {
        const float* row = ref_exp.data_ptr<float>();
        refs.insert(refs.end(), row, row + kExpDim);
      }
      ++n_new_exp;
    }
    if (n_new_exp > 0) {
      const at::Tensor emb = at::stack(std::vector<at::Tensor>(exp_emb.begin() + n_exp, exp_emb.begin() + n_exp + n_new_exp));
      const at::Tensor ref = at::from_blob(refs.data(), {n_new_exp, kExpDim}, at::kFloat);
      const at::Tensor ratio = at::from_blob(ratios.data(), {n_new_exp, 1}, at::kFloat);
      const at::Tensor exp = nets->expnet->mapping1->forward(at::cat({emb, ref, ratio}, 1)).contiguous();
      exp_rows.insert(exp_rows.end(), exp.data_ptr<float>(), exp.data_ptr<float>() + exp.numel());
      n_exp += n_new_exp;
    }

    // 3. PoseVAE: frame 0 is the reference (zero motion); full chunks as they
    // complete; the tail chunk at the end (it depends on T).
    if (n_raw == 0 && frames >= 1) {
      raw_pose.insert(raw_pose.end(), ref_pose.data_ptr<float>(), ref_pose.data_ptr<float>() + kPoseDim);
      n_raw = 1;
    }
    auto run_chunk = [&](const PoseChunk& c) {
      std::vector<at::Tensor> rows;
      for (int64_t w : c.windows) rows.push_back(pose_emb[size_t(w)]);
      at::Tensor z;
      if (!opt.injected_z.empty()) {
        if (int64_t(opt.injected_z.size()) < (n_chunks + 1) * latent)
          throw Error("streaming audio2coeff: injected_z holds fewer than " + std::to_string(n_chunks + 1) + " draws");
        z = at::from_blob(opt.injected_z.data() + n_chunks * latent, {1, latent}, at::kFloat).clone();
      } else {
        z = draw_z(gen, latent);
      }
      const at::Tensor motion = decode_pose_chunk(*nets->pose_vae, at::stack(rows).unsqueeze(0), c.count, z,
                                                  class_id, ref_pose);
      const at::Tensor raw = (ref_pose + motion).contiguous();
      raw_pose.insert(raw_pose.end(), raw.data_ptr<float>(), raw.data_ptr<float>() + raw.numel());
      n_raw += c.count;
      ++n_chunks;
    };
    for (;;) {
      const PoseChunk c = full_pose_chunk(opt.flavour, n_chunks, seq_len);
      // A full chunk of the final clip iff its last frame is <= T-1.
      if (c.first_frame + c.count > frames || c.windows.back() >= n_win) break;
      run_chunk(c);
    }
    if (done) {
      const std::vector<PoseChunk> plan = pose_chunk_plan(opt.flavour, frames, seq_len);
      if (int64_t(plan.size()) != n_chunks + (plan.empty() || !plan.back().tail ? 0 : 1))
        throw Error("streaming audio2coeff: internal chunk bookkeeping error");
      if (!plan.empty() && plan.back().tail) run_chunk(plan.back());
    }

    // 4. Final pose rows: smoothed (SadTalker) or raw (TAVCE), plus --ref_pose.
    const int64_t old_pose = n_pose;
    if (opt.flavour == Flavour::SadTalker) {
      int64_t upto = 0, avail = n_raw;
      int window = kSavgolMaxWindow;
      if (done) {
        upto = frames;
        window = savgol_window_for(frames);
      } else if (n_raw >= kSavgolMaxWindow) {
        // T >= n_raw >= 13, so the window is 13; rows < n_raw - 6 are head
        // or centre rows and depend only on rows we have.
        upto = n_raw - kSavgolMaxWindow / 2;
      }
      pose_rows.resize(size_t(std::max(upto, n_pose) * kPoseDim));
      for (int64_t t = n_pose; t < upto; ++t)
        savgol_row(raw_pose.data(), avail, kPoseDim, window, t, pose_rows.data() + t * kPoseDim);
      n_pose = std::max(n_pose, upto);
    } else {
      pose_rows.insert(pose_rows.end(), raw_pose.begin() + n_pose * kPoseDim, raw_pose.begin() + n_raw * kPoseDim);
      n_pose = n_raw;
    }
    if (!opt.ref_pose.empty()) {
      const int64_t n = int64_t(opt.ref_pose.size()) / kPoseDim;
      for (int64_t t = old_pose; t < n_pose; ++t)
        for (int64_t c = 0; c < kPoseDim; ++c)
          pose_rows[size_t(t * kPoseDim + c)] += opt.ref_pose[size_t((t % n) * kPoseDim + c)] - opt.ref_pose[size_t(c)];
    }

    // 5. CERL gate of frame j from windows max(j-1, 0) and j.
    if (gate_on && n_gate < n_win) {
      std::vector<at::Tensor> prev, cur;
      for (int64_t t = n_gate; t < n_win; ++t) {
        prev.push_back(corr_feat[size_t(std::max<int64_t>(t - 1, 0))]);
        cur.push_back(corr_feat[size_t(t)]);
      }
      const at::Tensor g = nn::cerl_gate(at::stack(prev), at::stack(cur)).contiguous();
      gate_rows.insert(gate_rows.end(), g.data_ptr<float>(), g.data_ptr<float>() + g.numel());
      n_gate = n_win;
    }

    // 6. Rows complete in every part go out in order.
    const int64_t n_ready = std::min({n_exp, n_pose, gate_on ? n_gate : n_exp});
    for (; n_out < n_ready; ++n_out) {
      std::vector<float> row(exp_rows.begin() + n_out * kExpDim, exp_rows.begin() + (n_out + 1) * kExpDim);
      row.insert(row.end(), pose_rows.begin() + n_out * kPoseDim, pose_rows.begin() + (n_out + 1) * kPoseDim);
      if (gate_on) row.insert(row.end(), gate_rows.begin() + n_out * kGateDim, gate_rows.begin() + (n_out + 1) * kGateDim);
      ready.push_back(std::move(row));
    }
    if (done && n_out != frames) throw Error("streaming audio2coeff: internal error, not every frame was produced");
    release();
  }

  // get_data's window of frame t (80 x 16, transposed like the reference)
  // from the kept mel frames; indices clamped to [0, mref-1].
  void extract_window(int64_t t, int64_t mref, float* out) const {
    const int64_t start = audio::window_start(t, audio::MelConfig{});
    for (int64_t k = 0; k < kWin; ++k) {
      const int64_t idx = std::clamp<int64_t>(start + k, 0, mref - 1);
      if (idx < mel_base) throw Error("streaming audio2coeff: internal error, mel frame already dropped");
      const float* src = mel.data() + (idx - mel_base) * kMels;
      for (int64_t c = 0; c < kMels; ++c) out[c * kWin + k] = src[c];
    }
  }

  void release() {
    // ExpNet embeddings are used once.
    for (; freed_exp < n_exp; ++freed_exp) exp_emb[size_t(freed_exp)] = at::Tensor();
    // PoseVAE embeddings: the next full chunk starts at its first window, and
    // the tail reads only the last seq_len windows of the clip (T >= n_win).
    const int64_t keep_pose = done ? n_win
                                   : std::min(full_pose_chunk(opt.flavour, n_chunks, seq_len).windows.front(),
                                              n_win - seq_len - 1);
    for (; freed_pose < keep_pose; ++freed_pose) pose_emb[size_t(freed_pose)] = at::Tensor();
    // Correlation features: the next gate pairs window n_gate - 1 with n_gate.
    for (; freed_corr < std::min<int64_t>(n_gate - 1, int64_t(corr_feat.size())); ++freed_corr)
      corr_feat[size_t(freed_corr)] = at::Tensor();
    // Mel frames before the next window's start (erased in steps of >= 256
    // frames; what stays behind is only the few frames after `need`).
    const int64_t need = std::max<int64_t>(0, audio::window_start(n_win, audio::MelConfig{}));
    if (need - mel_base >= 256) {
      mel.erase(mel.begin(), mel.begin() + (need - mel_base) * kMels);
      mel_base = need;
    }
  }
};

StreamingAudio2Coeff::StreamingAudio2Coeff(std::shared_ptr<Audio2CoeffNets> nets, StreamingOptions options)
    : impl_(std::make_unique<Impl>()) {
  if (!nets || !nets->expnet || !nets->pose_vae) throw Error("streaming audio2coeff: ExpNet and PoseVAE are required");
  if (options.pose_style < 0 || options.pose_style >= kNumPoseStyles)
    throw Error("streaming audio2coeff: pose_style must be in 0.." + std::to_string(kNumPoseStyles - 1));
  if (options.ref_coeff.size() != 70 && options.ref_coeff.size() != 73)
    throw Error("streaming audio2coeff: ref_coeff must hold 70 or 73 values, got " +
                std::to_string(options.ref_coeff.size()));
  if (options.ref_pose.size() % kPoseDim != 0 || options.ref_eyeblink.size() % kExpDim != 0)
    throw Error("streaming audio2coeff: ref_pose must be N x 6 and ref_eyeblink N x 64 values");
  Impl& s = *impl_;
  s.nets = std::move(nets);
  s.opt = std::move(options);
  s.gate_on = s.opt.flavour == Flavour::Tavce && s.opt.append_gate && s.nets->correlation;
  s.seq_len = s.nets->pose_vae->cfg.seq_len;
  s.latent = s.nets->pose_vae->cfg.latent_size;
  const at::Tensor ref = at::tensor(s.opt.ref_coeff, at::kFloat);
  s.ref_exp = ref.slice(0, 0, kExpDim).contiguous();
  s.ref_pose = ref.slice(0, kExpDim, kExpDim + kPoseDim).unsqueeze(0).contiguous();
  s.class_id = at::full({1}, s.opt.pose_style, at::kLong);
  // Worst case over a few chunk periods (the pattern repeats every seq_len
  // frames up to the 5-periodic window rounding).
  for (int64_t f = 1; f < 8 * s.seq_len; ++f)
    s.latency = std::max(s.latency, f - emittable(s.opt.flavour, s.seq_len, f));
  s.clear();
}

StreamingAudio2Coeff::~StreamingAudio2Coeff() = default;
StreamingAudio2Coeff::StreamingAudio2Coeff(StreamingAudio2Coeff&&) noexcept = default;
StreamingAudio2Coeff& StreamingAudio2Coeff::operator=(StreamingAudio2Coeff&&) noexcept = default;

void StreamingAudio2Coeff::push_mel(const float* frames, int64_t n_frames) {
  Impl& s = *impl_;
  if (s.done) throw Error("streaming audio2coeff: push_mel after finish (call reset first)");
  if (n_frames < 0) throw Error("streaming audio2coeff: negative frame count");
  if (n_frames == 0) return;
  s.mel.insert(s.mel.end(), frames, frames + n_frames * kMels);
  s.mel_frames += n_frames;
  s.process();
}

std::vector<std::vector<float>> StreamingAudio2Coeff::pop_ready() {
  std::vector<std::vector<float>> out(std::make_move_iterator(impl_->ready.begin()),
                                      std::make_move_iterator(impl_->ready.end()));
  impl_->ready.clear();
  return out;
}

void StreamingAudio2Coeff::finish(int64_t total_samples) {
  Impl& s = *impl_;
  if (s.done) return;
  int64_t frames = frames_for_mel_frames(s.mel_frames);
  if (total_samples >= 0) {
    const int64_t from_samples = frames_for_samples(total_samples);
    if (from_samples < frames || mel_frames_for_frames(from_samples) > s.mel_frames)
      throw Error("streaming audio2coeff: " + std::to_string(total_samples) + " samples do not match the " +
                  std::to_string(s.mel_frames) + " mel frames pushed");
    frames = from_samples;
  }
  s.done = true;
  s.final_frames = frames;
  s.process();
}

void StreamingAudio2Coeff::reset() { impl_->clear(); }

int64_t StreamingAudio2Coeff::latency_frames() const { return impl_->latency; }
int64_t StreamingAudio2Coeff::row_size() const { return kCoeffDim + (impl_->gate_on ? kGateDim : 0); }
int64_t StreamingAudio2Coeff::frames_emitted() const { return impl_->n_out; }
int64_t StreamingAudio2Coeff::frames_known() const { return impl_->known_frames(); }
bool StreamingAudio2Coeff::finished() const { return impl_->done; }

}  // namespace tavce::coeffs
