#include "tavce/families/lite/audio_stream.h"

#include <algorithm>
#include <deque>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include "tavce/audio/mel_windows.h"
#include "tavce/coeffs/sequencing.h"
#include "tavce/error.h"
#include "tavce/families/lite/audio_net.h"

namespace tavce::lite {

struct AudioStream::Impl {
  std::shared_ptr<AudioNetImpl> net;
  std::shared_ptr<const MotionSpace> space;
  IdleMotionOptions idle_options;
  IdleMotion idle;
  RowLayout layout;
  audio::MelConfig mel_config;
  int64_t n_mels = 80;

  std::vector<float> mel;    // mel frames mel_base .. mel_frames - 1
  int64_t mel_base = 0, mel_frames = 0;
  std::deque<std::vector<float>> emb;  // embeddings of frames emb_base .. n_emb - 1
  int64_t emb_base = 0, n_emb = 0;
  int64_t n_out = 0;
  bool done = false;
  int64_t final_frames = -1;
  std::vector<std::vector<float>> ready;

  Impl(std::shared_ptr<AudioNetImpl> n, std::shared_ptr<const MotionSpace> s, const IdleMotionOptions& o)
      : net(std::move(n)), space(std::move(s)), idle_options(o), idle(o), layout(space->layout()) {
    n_mels = net->cfg.n_mels;
  }

  int64_t known_frames() const { return done ? final_frames : coeffs::frames_for_mel_frames(mel_frames); }

  void process() {
    const int64_t frames = known_frames();
    // 1. Embed every frame whose mel window is complete.
    int64_t upto = n_emb;
    while (upto < frames && (done || audio::window_end(upto, mel_config) <= mel_frames)) ++upto;
    if (upto > n_emb) {
      const int64_t b = upto - n_emb, w = net->cfg.window;
      at::Tensor windows = at::empty({b, n_mels, w}, at::kFloat);
      float* out = windows.data_ptr<float>();
      for (int64_t i = 0; i < b; ++i) {
        const auto idx = audio::window_indices(n_emb + i, mel_frames, mel_config);
        for (int64_t k = 0; k < w; ++k) {
          const int64_t m = idx[static_cast<size_t>(k)];
          if (m < mel_base) throw Error("lite audio stream: internal error, mel frame already dropped");
          const float* src = mel.data() + (m - mel_base) * n_mels;
          for (int64_t c = 0; c < n_mels; ++c) out[(i * n_mels + c) * w + k] = src[c];
        }
      }
      const at::Tensor e = net->encode(windows).contiguous();
      const int64_t dims = e.size(1);
      for (int64_t i = 0; i < b; ++i)
        emb.emplace_back(e[i].data_ptr<float>(), e[i].data_ptr<float>() + dims);
      n_emb = upto;
    }
    // 2. Rows whose temporal context is complete (the clip's ends repeat).
    const int64_t past = net->cfg.past, future = net->cfg.future;
    int64_t rows_upto = n_out;
    while (rows_upto < frames && (done ? rows_upto < n_emb : rows_upto + future < n_emb)) ++rows_upto;
    if (rows_upto > n_out && n_emb > 0) {
      const int64_t b = rows_upto - n_out, span = past + 1 + future, e_dims = net->cfg.embed;
      at::Tensor ctx = at::empty({b, e_dims, span}, at::kFloat);
      float* c = ctx.data_ptr<float>();
      const int64_t last = (done ? final_frames : n_emb) - 1;
      for (int64_t i = 0; i < b; ++i)
        for (int64_t k = 0; k < span; ++k) {
          const int64_t f = std::clamp<int64_t>(n_out + i - past + k, 0, last);
          const std::vector<float>& v = emb.at(static_cast<size_t>(f - emb_base));
          for (int64_t d = 0; d < e_dims; ++d) c[(i * e_dims + d) * span + k] = v[static_cast<size_t>(d)];
        }
      const at::Tensor y = net->decode(ctx).squeeze(2).contiguous();  // (b, K)
      const int64_t k_out = y.size(1);
      for (int64_t i = 0; i < b; ++i) {
        std::vector<float> row(static_cast<size_t>(layout.dims()), 0.0f);
        std::copy(y[i].data_ptr<float>(), y[i].data_ptr<float>() + k_out, row.begin());
        idle.fill(n_out + i, layout, row.data());
        ready.push_back(std::move(row));
      }
      n_out = rows_upto;
    }
    // 3. Forget what no later frame reads.
    const int64_t keep_emb = std::max<int64_t>(0, n_out - past);
    while (emb_base < keep_emb && !emb.empty()) {
      emb.pop_front();
      ++emb_base;
    }
    const int64_t keep_mel = std::max<int64_t>(0, audio::window_start(n_emb, mel_config));
    if (keep_mel - mel_base >= 256) {
      mel.erase(mel.begin(), mel.begin() + (keep_mel - mel_base) * n_mels);
      mel_base = keep_mel;
    }
  }
};

AudioStream::AudioStream(std::shared_ptr<AudioNetImpl> net, std::shared_ptr<const MotionSpace> space,
                         const IdleMotionOptions& idle) {
  if (!net || !space) throw Error("lite audio stream: no network or motion space");
  if (net->cfg.outputs != space->components)
    throw Error("lite bundle: the audio network predicts " + std::to_string(net->cfg.outputs) +
                " mouth components, the motion space has " + std::to_string(space->components));
  impl_ = std::make_unique<Impl>(std::move(net), std::move(space), idle);
}

AudioStream::~AudioStream() = default;

int AudioStream::row_size() const { return impl_->layout.dims(); }

int64_t AudioStream::latency_frames() const {
  // Frame t's mel window ends at mel frame 3.2 t + 9.6, i.e. 3 video frames
  // after it (audio::window_end); its row also waits for `future` frames.
  return 3 + impl_->net->cfg.future;
}

void AudioStream::push_mel(const float* frames, int64_t n) {
  Impl& s = *impl_;
  if (s.done) throw Error("lite audio stream: mel after the end of the run (reset first)");
  if (n <= 0) return;
  s.mel.insert(s.mel.end(), frames, frames + n * s.n_mels);
  s.mel_frames += n;
  c10::InferenceMode guard;
  s.process();
}

std::vector<std::vector<float>> AudioStream::pop_ready() {
  std::vector<std::vector<float>> out;
  out.swap(impl_->ready);
  return out;
}

void AudioStream::finish() {
  Impl& s = *impl_;
  if (s.done) return;
  s.done = true;
  s.final_frames = coeffs::frames_for_mel_frames(s.mel_frames);
  c10::InferenceMode guard;
  s.process();
}

void AudioStream::reset() {
  Impl& s = *impl_;
  s.mel.clear();
  s.mel_base = s.mel_frames = 0;
  s.emb.clear();
  s.emb_base = s.n_emb = 0;
  s.n_out = 0;
  s.done = false;
  s.final_frames = -1;
  s.ready.clear();
  s.idle = IdleMotion(s.idle_options);
}

}  // namespace tavce::lite
