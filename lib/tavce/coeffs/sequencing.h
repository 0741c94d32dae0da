// Torch-free description of the audio -> coefficient sequencing shared by the
// offline flow (audio2coeff.h) and the streaming one (streaming.h): options,
// the PoseVAE chunk plan of both flavours, and frame counting.
#pragma once

#include <cstdint>
#include <vector>

namespace tavce::coeffs {

// SadTalker: src/test_audio2coeff.py Audio2Coeff.generate.
// Tavce: TAVCE inference.py (Audio2Exp.test + Audio2Pose.test of its repo):
//   full PoseVAE chunks read windows 32k..32k+31 (one-frame lag), no
//   Savitzky-Golay smoothing, ExpNet uses frame 0's ref for every frame, and
//   the renderer gets a CERL gate per frame (golden README surprises 5, 6).
enum class Flavour { SadTalker, Tavce };

constexpr int64_t kExpDim = 64;
constexpr int64_t kPoseDim = 6;
constexpr int64_t kCoeffDim = 70;  // exp 64 + angle 3 + trans 3
constexpr int64_t kGateDim = 128;  // TAVCE correlation feature / CERL gate size
constexpr int64_t kNumPoseStyles = 46;

struct Audio2CoeffOptions {
  Flavour flavour = Flavour::SadTalker;
  int64_t pose_style = 0;  // 0 .. 45, the CVAE class (--pose_style)
  // get_data's use_blink: false gives ratio 0 everywhere.
  bool use_blink = true;
  // --ref_pose: relative head pose from a reference coefficient sequence,
  // (N x 6) row-major (its columns 64:70). pose[t] += ref[t mod N] - ref[0],
  // after smoothing (Audio2Coeff.using_refpose; loops when N < T). Empty: off.
  std::vector<float> ref_pose;
  // --ref_eyeblink: reference expression per frame, (N x 64) row-major (its
  // columns 0:64). ExpNet's ref exp of frame t becomes ref[t mod N] and the
  // blink ratio is forced to 0 (get_data). Empty: off.
  std::vector<float> ref_eyeblink;
  // The expression is NOT scaled here: --expression_scale belongs to the
  // renderer's batch preparation (it also must not touch the source semantics).
};

// One PoseVAE decoder call: `windows` are the seq_len mel-window (= video
// frame) indices whose embeddings it decodes, already front-padded the
// reference's way (the first embedding repeated); its LAST `count` outputs are
// the motion of frames first_frame .. first_frame+count-1.
struct PoseChunk {
  std::vector<int64_t> windows;
  int64_t first_frame = 0;
  int64_t count = 0;
  bool tail = false;
};

// Number of z draws (decoder calls) for T frames: (T-1)/L full chunks plus
// one tail chunk when (T-1) % L != 0; 0 for T <= 1.
int64_t pose_chunk_count(int64_t frames, int64_t seq_len = 32);
// Full chunk k (both flavours write frames 1+kL .. L+kL):
//   SadTalker windows 1+kL .. L+kL (indiv_mels[:, 1:] chunked),
//   TAVCE windows kL .. kL+L-1 (indiv_mels chunked: one frame of lag).
PoseChunk full_pose_chunk(Flavour flavour, int64_t k, int64_t seq_len = 32);
// All chunks of a T-frame clip, in draw order (full chunks, then the tail:
// the last L windows of indiv_mels[:, 1:] (SadTalker) or of indiv_mels
// (TAVCE), front-padded by the first of them when fewer exist, keeping the
// last (T-1) % L outputs). Frame 0 has zero motion in both.
std::vector<PoseChunk> pose_chunk_plan(Flavour flavour, int64_t frames, int64_t seq_len = 32);

// Video frames the reference makes of n audio samples: floor(n / 640).
int64_t frames_for_samples(int64_t samples);
// Video frames a stream of M mel frames (1 + floor(n/200) for n samples, as
// the mel element emits them for the whole, uncut audio) implies:
// floor((M-1) * 200 / 640). It is floor(n/640) or one less (e.g. n = 640
// gives M = 4 and 0 frames): the mel count loses n mod 200. Callers that know
// the sample count should pass it (StreamingAudio2Coeff::finish).
int64_t frames_for_mel_frames(int64_t mel_frames);
// Mel frames of the reference's audio cut to T*640 samples: 1 + floor(3.2 T)
// (0 for T = 0). Window indices are clamped to this count minus one.
int64_t mel_frames_for_frames(int64_t frames);

}  // namespace tavce::coeffs
