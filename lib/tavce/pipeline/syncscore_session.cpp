#include "tavce/pipeline/syncscore_session.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <optional>
#include <utility>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include "tavce/audio/mfcc.h"
#include "tavce/error.h"
#include "tavce/face/landmarks.h"
#include "tavce/metrics/lse.h"
#include "tavce/nn/syncnet.h"
#include "tavce/pipeline/model_store.h"
#include "tavce/runtime/threads.h"

namespace tavce::pipeline {

namespace {

// Frames larger than this (longest side) are detected on a downscaled copy:
// dlib's HOG detector costs in proportion to the pixels, and talking-head
// faces stay well above its 80x80 minimum (the reference detects at 1/4 scale).
constexpr int kDetectMaxSide = 640;

}  // namespace

std::vector<uint8_t> syncnet_face_crop(const uint8_t* bgr, int width, int height, size_t stride,
                                       const SyncFaceBox& box, double crop_scale, int size) {
  if (!bgr || width <= 0 || height <= 0) throw Error("syncnet_face_crop: empty image");
  const double cs = crop_scale;
  const double bs = std::max(box.y1 - box.y0, box.x1 - box.x0) / 2.0;  // detection box half-size
  if (!(bs > 0.0)) throw Error("syncnet_face_crop: empty face box");
  // The reference pads the frame by bsi pixels of value 110 on every side,
  // then slices the padded frame (numpy clamps slice ends to the array).
  const int64_t bsi = static_cast<int64_t>(bs * (1 + 2 * cs));
  const double my = (box.y0 + box.y1) / 2.0 + static_cast<double>(bsi);
  const double mx = (box.x0 + box.x1) / 2.0 + static_cast<double>(bsi);
  const int64_t ph = height + 2 * bsi, pw = width + 2 * bsi;
  auto clamp = [](int64_t v, int64_t hi) { return std::min<int64_t>(std::max<int64_t>(v, 0), hi); };
  const int64_t r0 = clamp(static_cast<int64_t>(my - bs), ph), r1 = clamp(static_cast<int64_t>(my + bs * (1 + 2 * cs)), ph);
  const int64_t c0 = clamp(static_cast<int64_t>(mx - bs * (1 + cs)), pw),
                c1 = clamp(static_cast<int64_t>(mx + bs * (1 + cs)), pw);
  if (r1 <= r0 || c1 <= c0) throw Error("syncnet_face_crop: the face box lies outside the frame");
  cv::Mat face(static_cast<int>(r1 - r0), static_cast<int>(c1 - c0), CV_8UC3, cv::Scalar(110, 110, 110));
  // Overlap of the crop with the image, in image coordinates.
  const int64_t ir0 = std::max<int64_t>(r0 - bsi, 0), ir1 = std::min<int64_t>(r1 - bsi, height);
  const int64_t ic0 = std::max<int64_t>(c0 - bsi, 0), ic1 = std::min<int64_t>(c1 - bsi, width);
  for (int64_t y = ir0; y < ir1; ++y) {
    const uint8_t* src = bgr + static_cast<size_t>(y) * stride + static_cast<size_t>(ic0) * 3;
    uint8_t* dst = face.ptr<uint8_t>(static_cast<int>(y + bsi - r0)) + (ic0 + bsi - c0) * 3;
    if (ic1 > ic0) std::memcpy(dst, src, static_cast<size_t>(ic1 - ic0) * 3);
  }
  cv::Mat out;
  cv::resize(face, out, cv::Size(size, size), 0, 0, cv::INTER_LINEAR);  // cv2.resize default
  return std::vector<uint8_t>(out.data, out.data + static_cast<size_t>(size) * size * 3);
}

struct SyncScoreSession::Impl {
  SyncScoreSettings settings;
  std::shared_ptr<LoadedBundle> bundle;
  nn::SyncNet net{nullptr};
  std::shared_ptr<face::LandmarkDetector> detector;

  // The current window: one 224x224 BGR crop per frame (empty = no face box).
  std::vector<std::vector<uint8_t>> crops;
  int64_t detected = 0;
  std::optional<SyncFaceBox> last_box;
  int64_t frames_since_box = 0;

  std::optional<SyncFaceBox> detect(const SyncImageView& v, cv::Mat& bgr) {
    cv::Mat rgb(v.height, v.width, CV_8UC3);
    bgr.create(v.height, v.width, CV_8UC3);
    for (int y = 0; y < v.height; ++y) {
      const uint8_t* src = v.data + static_cast<size_t>(y) * v.stride;
      uint8_t* prgb = rgb.ptr<uint8_t>(y);
      uint8_t* pbgr = bgr.ptr<uint8_t>(y);
      for (int x = 0; x < v.width; ++x) {
        const uint8_t* p = src + static_cast<size_t>(x) * v.pixel_stride;
        prgb[3 * x] = pbgr[3 * x + 2] = p[v.r];
        prgb[3 * x + 1] = pbgr[3 * x + 1] = p[v.g];
        prgb[3 * x + 2] = pbgr[3 * x] = p[v.b];
      }
    }
    double scale = 1.0;
    cv::Mat small = rgb;
    const int side = std::max(v.width, v.height);
    if (side > kDetectMaxSide) {
      scale = static_cast<double>(kDetectMaxSide) / side;
      cv::resize(rgb, small, cv::Size(), scale, scale, cv::INTER_AREA);
    }
    const std::vector<face::DetectedFace> faces = detector->detect(small);
    if (faces.empty()) return std::nullopt;
    const cv::Rect& r = faces.front().box;  // largest first
    SyncFaceBox b;
    b.x0 = r.x / scale;
    b.y0 = r.y / scale;
    b.x1 = (r.x + r.width) / scale;
    b.y1 = (r.y + r.height) / scale;
    return b;
  }

  // (count) lip windows of frames v .. v+4 -> (count, fc) embeddings.
  at::Tensor lip_embeddings(int64_t count) {
    const int64_t n = count + kFramesPerWindow - 1;
    const int64_t s = kCropSize;
    // (3 B/G/R, n, 224, 224) float, raw 0..255, as the reference's imtv.
    at::Tensor hwc = at::empty({n, s, s, 3}, at::kByte);
    for (int64_t t = 0; t < n; ++t) std::memcpy(hwc[t].data_ptr<uint8_t>(), crops[static_cast<size_t>(t)].data(), s * s * 3);
    const at::Tensor video = hwc.permute({3, 0, 1, 2}).to(at::kFloat).contiguous();
    std::vector<at::Tensor> out;
    const int64_t batch = std::max(1, settings.batch_size);
    for (int64_t i = 0; i < count; i += batch) {
      std::vector<at::Tensor> items;
      for (int64_t v = i; v < std::min(count, i + batch); ++v) items.push_back(video.slice(1, v, v + kFramesPerWindow));
      out.push_back(net->forward_lip(at::stack(items).to(bundle->device())).to(at::kCPU));
    }
    return at::cat(out).to(at::kFloat).contiguous();
  }

  at::Tensor audio_embeddings(const float* audio, size_t n, int64_t count) {
    std::vector<double> samples(audio, audio + n);
    const audio::MfccResult mfcc = audio::compute_mfcc(samples.data(), samples.size());
    const std::vector<float> windows = audio::syncnet_mfcc_windows(mfcc, static_cast<int>(nn::SyncNetImpl::kMfcc), count);
    const at::Tensor all = at::from_blob(const_cast<float*>(windows.data()),
                                         {count, 1, nn::SyncNetImpl::kMfcc, nn::SyncNetImpl::kMfccSteps}, at::kFloat);
    std::vector<at::Tensor> out;
    const int64_t batch = std::max(1, settings.batch_size);
    for (int64_t i = 0; i < count; i += batch)
      out.push_back(net->forward_aud(all.slice(0, i, std::min(count, i + batch)).to(bundle->device())).to(at::kCPU));
    return at::cat(out).to(at::kFloat).contiguous();
  }
};

SyncScoreSession::SyncScoreSession(const SyncScoreSettings& settings) : impl_(std::make_unique<Impl>()) {
  Impl& m = *impl_;
  m.settings = settings;
  if (settings.vshift < 0 || settings.vshift > 100) throw Error("vshift must be in 0..100 frames");
  runtime::configure_threads(settings.threads);
  m.bundle = LoadedBundle::get(settings.model, settings.device);
  m.net = m.bundle->syncnet();
  m.detector = face::LandmarkDetector::shared(settings.predictor_path);
  // Warm-up: one window through both branches (allocations, kernel choice).
  c10::InferenceMode guard;
  const at::TensorOptions opt = at::TensorOptions().dtype(at::kFloat).device(m.bundle->device());
  (void)m.net->forward_lip(at::zeros({1, 3, kFramesPerWindow, kCropSize, kCropSize}, opt));
  (void)m.net->forward_aud(at::zeros({1, 1, nn::SyncNetImpl::kMfcc, nn::SyncNetImpl::kMfccSteps}, opt));
}

SyncScoreSession::~SyncScoreSession() = default;

int SyncScoreSession::vshift() const { return impl_->settings.vshift; }

int64_t SyncScoreSession::min_frames(int64_t window_frames) const {
  const int64_t full = kFramesPerWindow + 2 * static_cast<int64_t>(impl_->settings.vshift);
  return std::max<int64_t>(kFramesPerWindow + 1, std::min(full, window_frames));
}

bool SyncScoreSession::push_frame(const SyncImageView& frame) {
  Impl& m = *impl_;
  if (!frame.data || frame.width <= 0 || frame.height <= 0) throw Error("sync score: empty video frame");
  cv::Mat bgr;
  const std::optional<SyncFaceBox> found = m.detect(frame, bgr);
  if (found) {
    m.last_box = found;
    m.frames_since_box = 0;
    m.detected++;
  } else {
    m.frames_since_box++;
    if (m.last_box && m.frames_since_box > m.settings.max_held_frames) m.last_box.reset();
  }
  if (m.last_box)
    m.crops.push_back(syncnet_face_crop(bgr.data, bgr.cols, bgr.rows, bgr.step[0], *m.last_box, 0.4, kCropSize));
  else
    m.crops.emplace_back();
  return found.has_value();
}

int64_t SyncScoreSession::frames() const { return static_cast<int64_t>(impl_->crops.size()); }

SyncWindowResult SyncScoreSession::score(const float* audio, size_t samples, int64_t min_frames) {
  Impl& m = *impl_;
  SyncWindowResult r;
  r.frames = static_cast<int64_t>(m.crops.size());
  r.faces = m.detected;
  r.face_missing = r.frames - r.faces;
  r.lse_d = r.lse_c = std::nan("");
  auto done = [&](std::string reason) {
    r.reason = std::move(reason);
    m.crops.clear();
    m.detected = 0;
    return r;
  };
  const int64_t usable = std::min<int64_t>(r.frames, static_cast<int64_t>(samples) / kSamplesPerFrame);
  if (usable < min_frames)
    return done("too short: " + std::to_string(usable) + " frame(s) with audio, " + std::to_string(min_frames) +
                " needed");
  const int64_t boxless = std::count_if(m.crops.begin(), m.crops.begin() + usable, [](const auto& c) { return c.empty(); });
  if (boxless > 0) return done("no face in " + std::to_string(boxless) + " frame(s)");
  if (2 * r.faces < r.frames)
    return done("face detected in only " + std::to_string(r.faces) + " of " + std::to_string(r.frames) + " frames");

  const int64_t count = audio::syncnet_window_count(r.frames, static_cast<int64_t>(samples));
  c10::InferenceMode guard;
  const at::Tensor im = m.lip_embeddings(count);
  const at::Tensor cc = m.audio_embeddings(audio, static_cast<size_t>(usable) * kSamplesPerFrame, count);
  const metrics::LseResult lse =
      metrics::evaluate_lse(im.data_ptr<float>(), cc.data_ptr<float>(), count, im.size(1), m.settings.vshift);
  r.embeddings = count;
  r.scored = true;
  r.lse_d = lse.min_dist;
  r.lse_c = lse.conf;
  r.offset = lse.offset;
  r.mdist = lse.mdist;
  return done("");
}

void SyncScoreSession::reset() {
  impl_->crops.clear();
  impl_->detected = 0;
  impl_->last_box.reset();
  impl_->frames_since_box = 0;
}

}  // namespace tavce::pipeline
