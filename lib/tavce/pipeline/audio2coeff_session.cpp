#include "tavce/pipeline/audio2coeff_session.h"

#include <cmath>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "tavce/coeffs/audio2coeff.h"
#include "tavce/coeffs/streaming.h"
#include "tavce/error.h"
#include "tavce/families/lite/audio_stream.h"
#include "tavce/face/source.h"
#include "tavce/pipeline/model_store.h"
#include "tavce/pipeline/reference_motion.h"
#include "tavce/pipeline/stream_format.h"
#include "tavce/runtime/threads.h"

namespace tavce::pipeline {

namespace {

// The audio networks are small (0.2 GMAC per frame in all): they run on the
// CPU whatever `device` says, so a GPU is left to the renderer and no frame
// pays for a host/device round trip of its mel window.
c10::Device audio_device(const std::string& requested) {
  parse_device(requested);  // still refuse a device that cannot exist
  return c10::Device(c10::kCPU);
}

// The 73 reference coefficients of the portrait: exp for ExpNet, pose for PoseVAE.
std::vector<float> reference_coefficients(const Audio2CoeffSettings& s, LoadedBundle& models) {
  if (!s.source_coeffs.empty()) return read_coeff_file(s.source_coeffs);
  if (s.source_image.empty())
    throw Error("no portrait: set source-image=PORTRAIT (its expression and head pose are the reference "
                "the audio animates) or source-coeffs=FILE");
  models.require_recon();
  cv::Mat bgr = cv::imread(s.source_image, cv::IMREAD_COLOR);
  if (bgr.empty())
    throw Error("cannot read the portrait '" + s.source_image + "' (missing, or not an image OpenCV can decode)");
  cv::Mat rgb;
  cv::cvtColor(bgr, rgb, cv::COLOR_BGR2RGB);
  face::SourceOptions opts;
  opts.preprocess = face::parse_preprocess(s.preprocess);
  opts.size = models.image_size();
  return models.portrait_coefficients(*face::SourceCache::shared().get(rgb, s.source_image, opts));
}

}  // namespace

struct Audio2CoeffSession::Impl {
  CoeffStreamInfo info;
  std::unique_ptr<coeffs::StreamingAudio2Coeff> stream;  // SadTalker / TAVCE bundles
  std::unique_ptr<lite::AudioStream> lite;               // lite bundles
};

namespace {

// What every bundle's stream shares: its frame rate and the mel front end its
// audio network expects (checked against the mel caps).
void describe_frontend(const models::Bundle& bundle, CoeffStreamInfo& info) {
  // fps is 25 in every known bundle; a fractional rate would need num/den in model.json.
  info.fps_num = static_cast<int>(std::lround(bundle.fps));
  info.fps_den = 1;
  const models::AudioFrontend& a = bundle.audio_frontend;
  info.sample_rate = static_cast<int>(a.sample_rate);
  info.n_mels = static_cast<int>(a.n_mels);
  info.hop = static_cast<int>(a.hop);
}

// The lite family: rows relative to the portrait, so no portrait is needed here.
void start_lite(std::unique_ptr<lite::AudioStream>& stream, CoeffStreamInfo& info, const Audio2CoeffSettings& s,
                LoadedBundle& models) {
  if (!s.ref_pose.empty() || !s.ref_eyeblink.empty())
    throw Error("model bundle '" + models.bundle().name + "' is a lite bundle: ref-pose and ref-eyeblink need a "
                "SadTalker bundle (the lite family draws blinks and head sway itself; set blink=false for none)");
  lite::IdleMotionOptions idle;
  idle.seed = s.seed;
  idle.blink = s.blink;
  stream = std::make_unique<lite::AudioStream>(models.lite_audio_net().ptr(), models.lite_motion_space(), idle);
  info.dims = stream->row_size();
  info.space = models.bundle().coefficient_space;
  info.latency_frames = stream->latency_frames();
  describe_frontend(models.bundle(), info);
}

}  // namespace

Audio2CoeffSession::Audio2CoeffSession(const Audio2CoeffSettings& settings) : impl_(std::make_unique<Impl>()) {
  if (settings.pose_style < 0 || settings.pose_style >= coeffs::kNumPoseStyles)
    throw Error("pose-style " + std::to_string(settings.pose_style) + " is out of range 0.." +
                std::to_string(coeffs::kNumPoseStyles - 1));
  auto models = LoadedBundle::get(settings.model, audio_device(settings.device).str());
  runtime::configure_threads(session_threads(settings.threads, models->bundle()));
  if (models->bundle().is_lite()) {
    start_lite(impl_->lite, impl_->info, settings, *models);
    return;
  }
  const StreamFormat format = stream_format(models->bundle());

  auto nets = std::make_shared<coeffs::Audio2CoeffNets>();
  nets->expnet = models->expnet();
  nets->pose_vae = models->pose_vae();
  if (format.gate_dims > 0) nets->correlation = models->correlation_audio();

  coeffs::StreamingOptions opts;
  opts.flavour = format.gate_dims > 0 ? coeffs::Flavour::Tavce : coeffs::Flavour::SadTalker;
  opts.pose_style = settings.pose_style;
  opts.use_blink = settings.blink;
  opts.seed = settings.seed;
  opts.ref_coeff = reference_coefficients(settings, *models);
  opts.append_gate = format.gate_dims > 0;
  if (!settings.ref_pose.empty())
    for (const auto& row : reference_coefficients(settings.ref_pose, *models, settings.preprocess))
      opts.ref_pose.insert(opts.ref_pose.end(), row.begin() + 64, row.begin() + 70);
  if (!settings.ref_eyeblink.empty())
    for (const auto& row : reference_coefficients(settings.ref_eyeblink, *models, settings.preprocess))
      opts.ref_eyeblink.insert(opts.ref_eyeblink.end(), row.begin(), row.begin() + 64);
  impl_->stream = std::make_unique<coeffs::StreamingAudio2Coeff>(nets, opts);

  CoeffStreamInfo& info = impl_->info;
  info.dims = format.dims();
  info.space = format.space;
  info.latency_frames = impl_->stream->latency_frames();
  describe_frontend(models->bundle(), info);
  if (impl_->stream->row_size() != info.dims)
    throw Error("internal: coefficient rows of " + std::to_string(impl_->stream->row_size()) +
                " values, stream format says " + std::to_string(info.dims));
}

Audio2CoeffSession::~Audio2CoeffSession() = default;

const CoeffStreamInfo& Audio2CoeffSession::info() const { return impl_->info; }

void Audio2CoeffSession::push_mel(const float* frames, int64_t n) {
  c10::InferenceMode guard;
  if (impl_->lite) return impl_->lite->push_mel(frames, n);
  impl_->stream->push_mel(frames, n);
}

std::vector<std::vector<float>> Audio2CoeffSession::pop_ready() {
  c10::InferenceMode guard;
  if (impl_->lite) return impl_->lite->pop_ready();
  return impl_->stream->pop_ready();
}

void Audio2CoeffSession::finish() {
  c10::InferenceMode guard;
  if (impl_->lite) return impl_->lite->finish();
  impl_->stream->finish();
}

void Audio2CoeffSession::reset() {
  if (impl_->lite) return impl_->lite->reset();
  impl_->stream->reset();
}

}  // namespace tavce::pipeline
