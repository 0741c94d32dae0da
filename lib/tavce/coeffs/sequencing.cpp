#include "tavce/coeffs/sequencing.h"

#include <algorithm>

#include "tavce/error.h"

namespace tavce::coeffs {

namespace {
constexpr int64_t kSamplesPerFrame = 640;  // 16000 Hz / 25 fps
constexpr int64_t kHop = 200;
}  // namespace

int64_t pose_chunk_count(int64_t frames, int64_t seq_len) {
  if (frames <= 1) return 0;
  const int64_t n = frames - 1;
  return n / seq_len + (n % seq_len != 0 ? 1 : 0);
}

PoseChunk full_pose_chunk(Flavour flavour, int64_t k, int64_t seq_len) {
  PoseChunk c;
  const int64_t first_window = flavour == Flavour::SadTalker ? 1 + k * seq_len : k * seq_len;
  for (int64_t i = 0; i < seq_len; ++i) c.windows.push_back(first_window + i);
  c.first_frame = 1 + k * seq_len;
  c.count = seq_len;
  return c;
}

std::vector<PoseChunk> pose_chunk_plan(Flavour flavour, int64_t frames, int64_t seq_len) {
  if (seq_len < 1) throw Error("pose chunks: seq_len must be >= 1");
  std::vector<PoseChunk> plan;
  if (frames <= 1) return plan;
  const int64_t n = frames - 1, div = n / seq_len, re = n % seq_len;
  for (int64_t k = 0; k < div; ++k) plan.push_back(full_pose_chunk(flavour, k, seq_len));
  if (re != 0) {
    PoseChunk c;
    c.tail = true;
    // The windows the tail reads: the last seq_len of frames 1..T-1
    // (SadTalker, indiv_mels[:, 1:]) or 0..T-1 (TAVCE, indiv_mels).
    const int64_t lo = flavour == Flavour::SadTalker ? 1 : 0;
    const int64_t first = std::max<int64_t>(lo, frames - seq_len);
    const int64_t have = frames - first;
    for (int64_t i = 0; i < seq_len - have; ++i) c.windows.push_back(first);  // front padding
    for (int64_t w = first; w < frames; ++w) c.windows.push_back(w);
    c.first_frame = frames - re;
    c.count = re;
    plan.push_back(c);
  }
  return plan;
}

int64_t frames_for_samples(int64_t samples) { return samples <= 0 ? 0 : samples / kSamplesPerFrame; }

int64_t frames_for_mel_frames(int64_t mel_frames) {
  return mel_frames <= 1 ? 0 : (mel_frames - 1) * kHop / kSamplesPerFrame;
}

int64_t mel_frames_for_frames(int64_t frames) {
  return frames <= 0 ? 0 : 1 + frames * kSamplesPerFrame / kHop;
}

}  // namespace tavce::coeffs
