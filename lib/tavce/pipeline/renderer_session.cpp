#include "tavce/pipeline/renderer_session.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <deque>
#include <list>
#include <utility>

#include <ATen/ATen.h>
#include <ATen/autocast_mode.h>
#include <c10/core/InferenceMode.h>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "tavce/coeffs/camera_pose.h"
#include "tavce/error.h"
#include "tavce/face/landmarks.h"
#include "tavce/face/paste_back.h"
#include "tavce/face/source.h"
#include "tavce/families/lite/portrait_animator.h"
#include "tavce/pipeline/model_store.h"
#include "tavce/pipeline/stream_format.h"
#include "tavce/render/animator.h"
#include "tavce/render/driving.h"
#include "tavce/render/frames.h"
#include "tavce/render/windower.h"
#include "tavce/runtime/threads.h"

namespace tavce::pipeline {

namespace {

// Identities prepared in this session, most recent first: switching back to a
// recent portrait costs nothing.
constexpr size_t kIdentitiesKept = 4;

struct Identity {
  std::string hash;
  std::shared_ptr<const face::PreparedSource> prepared;
  std::array<float, 73> source73{};
  render::SourceState state;
};

// One angle override (yaw, pitch or roll) as per-frame degrees.
struct CameraOverride {
  std::vector<double> per_frame;  // empty = no override; one value = constant

  bool active() const { return !per_frame.empty(); }
  double at_frame(int64_t i) const {
    if (per_frame.size() == 1 || i <= 0) return per_frame.front();
    return per_frame[std::min<size_t>(static_cast<size_t>(i), per_frame.size() - 1)];
  }
};

CameraOverride camera_override(const std::vector<double>& degrees, int64_t frames, const char* name) {
  CameraOverride o;
  if (degrees.empty()) return o;
  for (double d : degrees)
    if (!std::isfinite(d)) throw Error(std::string(name) + ": the angles must be finite numbers of degrees");
  if (degrees.size() == 1) {
    o.per_frame = degrees;
    return o;
  }
  if (frames <= 0)
    throw Error(std::string(name) + " lists " + std::to_string(degrees.size()) +
                " angles: a list is interpolated over the clip (SadTalker's gen_camera_pose), so the clip length "
                "is needed: set camera-frames to the number of video frames (audio seconds x 25), or give a "
                "single angle");
  o.per_frame = coeffs::camera_pose_sequence(degrees, frames);
  return o;
}

// A frame as the session hands it out: packed RGB rows without padding.
RgbImage rgb_image_of(const cv::Mat& rgb) {
  RgbImage image;
  image.width = rgb.cols;
  image.height = rgb.rows;
  image.pixels.resize(static_cast<size_t>(rgb.cols) * rgb.rows * 3);
  for (int y = 0; y < rgb.rows; ++y)
    std::memcpy(image.pixels.data() + static_cast<size_t>(y) * rgb.cols * 3, rgb.ptr(y),
                static_cast<size_t>(rgb.cols) * 3);
  return image;
}

at::ScalarType autocast_type(const std::string& precision, const c10::Device& device) {
  if (precision == "fp32") return at::kFloat;
  if (precision != "fp16" && precision != "bf16")
    throw Error("precision '" + precision + "' is not one of fp32, fp16, bf16");
  if (!device.is_cuda())
    throw Error("precision '" + precision + "' needs a CUDA device (device=cuda); on the CPU use fp32");
  return precision == "fp16" ? at::kHalf : at::kBFloat16;
}

}  // namespace

struct RendererSession::Impl {
  RendererSettings settings;
  std::shared_ptr<LoadedBundle> models;
  std::unique_ptr<render::Animator> animator;
  face::SourceOptions source_options;
  render::DrivingOptions driving;
  render::ByteRounding rounding = render::ByteRounding::kRint;
  at::ScalarType compute_type = at::kFloat;
  StreamFormat format;

  std::list<Identity> identities;  // front = current
  render::CoefficientWindower windower{render::kMotionDims};
  std::deque<std::vector<float>> gates;  // CERL gate per pushed frame not yet rendered (TAVCE)
  int64_t gates_first = 0;               // frame index of gates.front()
  std::deque<render::Window> waiting;    // ready windows not rendered yet (batching)
  CameraOverride yaw, pitch, roll;       // head-pose overrides (degrees per frame index)

  Identity& current() {
    if (identities.empty()) throw Error("no portrait set");
    return identities.front();
  }

  void use_identity(const cv::Mat& rgb, const std::string& label) {
    c10::InferenceMode guard;
    auto prepared = face::SourceCache::shared().get(rgb, label, source_options);
    for (auto it = identities.begin(); it != identities.end(); ++it) {
      if (it->prepared == prepared) {
        identities.splice(identities.begin(), identities, it);
        return;
      }
    }
    Identity id;
    id.hash = prepared->content_hash;
    id.prepared = prepared;
    id.source73 = source_coefficients(*prepared);
    const cv::Mat& pic = prepared->pic;
    at::Tensor image = render::image_from_rgb8(pic.data, pic.rows, pic.cols, static_cast<int64_t>(pic.step))
                           .to(models->device());
    at::Tensor coeff = at::from_blob(id.source73.data(), {1, 73}, at::kFloat).clone();
    id.state = animator->prepare_source(image, render::source_semantics(coeff, driving.full).to(models->device()));
    identities.push_front(std::move(id));
    while (identities.size() > kIdentitiesKept) identities.pop_back();
  }

  std::array<float, 73> source_coefficients(const face::PreparedSource& src) {
    std::array<float, 73> out{};
    if (!settings.source_coeffs.empty()) {
      const std::vector<float> row = read_coeff_file(settings.source_coeffs);
      if (row.size() < 73 && driving.full)
        throw Error("source-coeffs '" + settings.source_coeffs + "' holds " + std::to_string(row.size()) +
                    " values; full/extfull need 73 (with the crop parameters)");
      std::copy(row.begin(), row.end(), out.begin());
      if (row.size() < 73) {  // the crop params of the source's own alignment
        for (int k = 0; k < 3; ++k) out[70 + k] = src.trans_params[2 + k];
      }
      return out;
    }
    const std::vector<float> c = models->portrait_coefficients(src);
    std::copy(c.begin(), c.begin() + 73, out.begin());
    return out;
  }

  // Renders `batch` windows (consecutive frames) of the current identity.
  std::vector<RenderedFrame> render_batch(const std::vector<render::Window>& batch) {
    Identity& id = current();
    const int64_t b = static_cast<int64_t>(batch.size());
    const int64_t dims = driving.dims();
    at::Tensor windows = at::empty({b, dims, render::kWindowLength}, at::kFloat);
    for (int64_t i = 0; i < b; ++i)
      std::copy(batch[i].window.begin(), batch[i].window.end(), windows[i].data_ptr<float>());
    render::FrameControls controls;
    if (format.gate_dims > 0) {
      at::Tensor g = at::empty({b, format.gate_dims}, at::kFloat);
      for (int64_t i = 0; i < b; ++i) {
        const auto& gate = gates.at(static_cast<size_t>(batch[i].frame_index - gates_first));
        std::copy(gate.begin(), gate.end(), g[i].data_ptr<float>());
      }
      controls.cerl_gate = g.to(models->device());
    }
    auto angles = [&](const CameraOverride& o) {
      if (!o.active()) return at::Tensor();
      at::Tensor t = at::empty({b}, at::kFloat);
      float* p = t.data_ptr<float>();
      for (int64_t i = 0; i < b; ++i) p[i] = static_cast<float>(o.at_frame(batch[i].frame_index));
      return t.to(models->device());
    };
    controls.yaw_deg = angles(yaw);
    controls.pitch_deg = angles(pitch);
    controls.roll_deg = angles(roll);
    at::Tensor rgb;
    {
      c10::InferenceMode guard;
      if (compute_type != at::kFloat) {  // CUDA fp16/bf16 only (autocast_type refuses the CPU)
        at::autocast::set_autocast_gpu_dtype(compute_type);
        at::autocast::set_enabled(true);
      }
      render::FrameBatch out = animator->render(id.state, windows.to(models->device()), controls);
      if (compute_type != at::kFloat) at::autocast::set_enabled(false);
      rgb = render::to_rgb8(out.prediction.to(at::kFloat).cpu(), rounding);  // (B, H, W, 3)
    }
    std::vector<RenderedFrame> frames;
    for (int64_t i = 0; i < b; ++i) {
      RenderedFrame f;
      f.index = batch[i].frame_index;
      at::Tensor one = rgb[i].contiguous();
      cv::Mat frame(static_cast<int>(one.size(0)), static_cast<int>(one.size(1)), CV_8UC3, one.data_ptr<uint8_t>());
      cv::Mat result = frame;
      if (face::is_full(source_options.preprocess))
        result = face::paste_back(id.prepared->original, frame, id.prepared->crop_info,
                                  face::is_extended(source_options.preprocess));
      f.image = rgb_image_of(result);
      frames.push_back(std::move(f));
    }
    return frames;
  }

  void drop_gates_before(int64_t frame) {
    while (!gates.empty() && gates_first < frame) {
      gates.pop_front();
      ++gates_first;
    }
  }
};

// The lite family: the portrait's pixels moved by a face mesh, one frame per
// row, no look-ahead. The picture is the face crop (crop, extcrop, resize) or
// the whole portrait (full, extfull: drawn in place, nothing to paste back).
struct RendererSession::LiteImpl {
  std::shared_ptr<LoadedBundle> models;
  std::unique_ptr<lite::PortraitAnimator> animator;
  lite::AnimateOptions options;
  face::SourceOptions source_options;
  CameraOverride roll;
  // Identities prepared in this session, most recent first.
  std::list<std::pair<std::shared_ptr<const face::PreparedSource>, std::shared_ptr<const lite::LitePortrait>>> identities;
  std::vector<std::string> warnings;
  std::deque<std::pair<int64_t, std::vector<float>>> pending;
  int64_t next_index = 0;
  cv::Mat frame;

  LiteImpl(const RendererSettings& s, std::shared_ptr<LoadedBundle> m) : models(std::move(m)) {
    const std::string name = models->bundle().name;
    if (!s.yaw.empty() || !s.pitch.empty())
      throw Error("model bundle '" + name + "' is a lite bundle: it moves the head in the picture's plane only, so "
                  "yaw and pitch cannot be set (roll can)");
    if (s.precision != "fp32") throw Error("lite bundles render in fp32 on the CPU; set precision=fp32");
    if (!s.source_coeffs.empty())
      throw Error("model bundle '" + name + "' is a lite bundle: source-coeffs (3DMM coefficients) do not apply");
    roll = camera_override(s.roll, s.camera_frames, "roll");
    animator = std::make_unique<lite::PortraitAnimator>(models->lite_motion_space());
    options.expression_scale = s.expression_scale;
    options.still = s.still;
    source_options.preprocess = face::parse_preprocess(s.preprocess);
    source_options.size = 256;
    // dlib's landmark model (about a second to read) is loaded with the
    // bundle, when the element starts, so that a portrait's preparation costs
    // only detection and meshing.
    face::LandmarkDetector::shared();
  }

  const lite::LitePortrait& current() const {
    if (identities.empty()) throw Error("no portrait set");
    return *identities.front().second;
  }

  void use_identity(const cv::Mat& rgb, const std::string& label) {
    auto prepared = face::SourceCache::shared().get(rgb, label, source_options);
    for (auto it = identities.begin(); it != identities.end(); ++it)
      if (it->first == prepared) {
        identities.splice(identities.begin(), identities, it);
        return;
      }
    const bool full = face::is_full(source_options.preprocess);
    const auto& points = full ? prepared->source_landmarks : prepared->pic_landmarks;
    if (!points)
      throw Error(label + ": no face found" + std::string(full ? "" : " in the cropped portrait") +
                  "; the lite model animates a face, so the portrait needs one (dlib's frontal face detector)");
    auto portrait = std::make_shared<const lite::LitePortrait>(
        lite::prepare_portrait(full ? prepared->original : prepared->pic, *points, !full, label));
    for (const auto& w : portrait->warnings) warnings.push_back(w);
    identities.emplace_front(prepared, portrait);
    while (identities.size() > kIdentitiesKept) identities.pop_back();
  }

  std::vector<RenderedFrame> pop_ready(const std::function<bool(int64_t)>& wanted) {
    std::vector<RenderedFrame> out;
    while (!pending.empty()) {
      auto [index, row] = std::move(pending.front());
      pending.pop_front();
      if (wanted && !wanted(index)) continue;
      const lite::LitePortrait& p = current();
      if (roll.active()) row[animator->space().layout().roll()] = static_cast<float>(roll.at_frame(index) * M_PI / 180);
      animator->render(p, row.data(), options, frame);
      RenderedFrame f;
      f.index = index;
      f.image = rgb_image_of(frame);
      out.push_back(std::move(f));
    }
    return out;
  }
};

RendererSession::RendererSession(const RendererSettings& settings) {
  if (settings.batch_size < 1) throw Error("batch-size must be at least 1");
  if (settings.camera_frames < 0) throw Error("camera-frames must not be negative");
  // model.json alone says the family (no weights are read for this).
  const models::Bundle bundle = models::read_bundle(locate_bundle(settings.model));
  runtime::configure_threads(session_threads(settings.threads, bundle));
  if (bundle.is_lite()) {
    parse_device(settings.device);  // still refuse a device that cannot exist; lite runs on the CPU
    lite_ = std::make_unique<LiteImpl>(settings, LoadedBundle::get(settings.model, "cpu"));
    return;
  }
  impl_ = std::make_unique<Impl>();
  Impl& m = *impl_;
  m.settings = settings;
  m.yaw = camera_override(settings.yaw, settings.camera_frames, "yaw");
  m.pitch = camera_override(settings.pitch, settings.camera_frames, "pitch");
  m.roll = camera_override(settings.roll, settings.camera_frames, "roll");
  m.models = LoadedBundle::get(settings.model, settings.device);
  m.compute_type = autocast_type(settings.precision, m.models->device());
  m.source_options.preprocess = face::parse_preprocess(settings.preprocess);
  m.source_options.size = m.models->image_size();
  m.driving.full = face::is_full(m.source_options.preprocess);
  m.driving.still = settings.still;
  m.driving.expression_scale = static_cast<float>(settings.expression_scale);
  m.format = stream_format(m.models->bundle());
  nn::MappingNet mapping = m.driving.full ? m.models->mapping_full() : m.models->mapping();
  if (mapping->config.coeff_nc != m.driving.dims())
    throw Error("model bundle '" + m.models->bundle().name + "': its " + (m.driving.full ? "mapping_full" : "mapping") +
                " network takes " + std::to_string(mapping->config.coeff_nc) + " coefficients, preprocess=" +
                settings.preprocess + " needs " + std::to_string(m.driving.dims()));
  m.animator = std::make_unique<render::Animator>(m.models->kp_detector(), m.models->generator(), mapping);
  if (m.animator->has_cerl() != (m.format.gate_dims > 0))
    throw Error("model bundle '" + m.models->bundle().name + "': the generator and the coefficient stream disagree "
                "about CERL (a TAVCE generator needs the correlation gate and vice versa)");
  // TAVCE's released renderer writes uint8(pred * 255); SadTalker rounds.
  m.rounding = m.animator->has_cerl() ? render::ByteRounding::kTruncate : render::ByteRounding::kRint;
  m.windower = render::CoefficientWindower(m.driving.dims(), render::kSemanticRadius);
}

RendererSession::~RendererSession() = default;

int RendererSession::coeff_dims() const {
  if (lite_) return lite_->animator->dims();
  return impl_->format.dims();
}
std::string RendererSession::coeff_space() const {
  if (lite_) return lite_->models->bundle().coefficient_space;
  return impl_->format.space;
}
int64_t RendererSession::latency_frames() const {
  if (lite_) return 0;
  return impl_->windower.latency_frames() + impl_->settings.batch_size - 1;
}

std::vector<std::string> RendererSession::take_warnings() {
  std::vector<std::string> out;
  if (lite_) out.swap(lite_->warnings);
  return out;
}

void RendererSession::set_portrait_file(const std::string& path) {
  cv::Mat bgr = cv::imread(path, cv::IMREAD_COLOR);
  if (bgr.empty())
    throw Error("cannot read the portrait '" + path + "' (missing, or not an image OpenCV can decode)");
  cv::Mat rgb;
  cv::cvtColor(bgr, rgb, cv::COLOR_BGR2RGB);
  if (lite_) return lite_->use_identity(rgb, path);
  impl_->use_identity(rgb, path);
}

void RendererSession::set_portrait(const RgbImage& image, const std::string& label) {
  if (image.width <= 0 || image.height <= 0 ||
      image.pixels.size() != static_cast<size_t>(image.width) * image.height * 3)
    throw Error("portrait from " + label + " is empty or its size does not match its pixels");
  cv::Mat rgb(image.height, image.width, CV_8UC3, const_cast<uint8_t*>(image.pixels.data()));
  if (lite_) return lite_->use_identity(rgb.clone(), label);
  impl_->use_identity(rgb.clone(), label);
}

bool RendererSession::has_portrait() const {
  if (lite_) return !lite_->identities.empty();
  return !impl_->identities.empty();
}

int RendererSession::output_width() const {
  if (lite_) return lite_->identities.empty() ? 256 : lite_->current().canvas.cols;
  const Impl& m = *impl_;
  if (m.identities.empty()) return m.source_options.size;
  return face::is_full(m.source_options.preprocess) ? m.identities.front().prepared->original.cols
                                                     : m.source_options.size;
}

int RendererSession::output_height() const {
  if (lite_) return lite_->identities.empty() ? 256 : lite_->current().canvas.rows;
  const Impl& m = *impl_;
  if (m.identities.empty()) return m.source_options.size;
  return face::is_full(m.source_options.preprocess) ? m.identities.front().prepared->original.rows
                                                     : m.source_options.size;
}

void RendererSession::push(const float* row, int64_t dims) {
  if (lite_) {
    if (dims != lite_->animator->dims())
      throw Error("coefficient row of " + std::to_string(dims) + " values; the model takes " +
                  std::to_string(lite_->animator->dims()));
    if (lite_->identities.empty()) throw Error("coefficients arrived before any portrait");
    lite_->pending.emplace_back(lite_->next_index++, std::vector<float>(row, row + dims));
    return;
  }
  Impl& m = *impl_;
  if (dims != m.format.dims())
    throw Error("coefficient row of " + std::to_string(dims) + " values; the model takes " +
                std::to_string(m.format.dims()));
  if (m.identities.empty()) throw Error("coefficients arrived before any portrait");
  std::vector<float> prepared(static_cast<size_t>(m.driving.dims()));
  render::prepare_driving_row(row, m.current().source73.data(), prepared.data(), m.driving);
  if (m.format.gate_dims > 0) m.gates.emplace_back(row + m.format.coeff_dims, row + dims);
  m.windower.push(prepared.data());
}

std::vector<RenderedFrame> RendererSession::pop_ready(const std::function<bool(int64_t)>& wanted) {
  if (lite_) return lite_->pop_ready(wanted);
  Impl& m = *impl_;
  for (auto& w : m.windower.pop_ready()) m.waiting.push_back(std::move(w));
  std::vector<RenderedFrame> out;
  const size_t batch = static_cast<size_t>(m.settings.batch_size);
  while (!m.waiting.empty()) {
    // Skipped frames leave the queue first, so a batch holds only real work.
    while (!m.waiting.empty() && wanted && !wanted(m.waiting.front().frame_index)) m.waiting.pop_front();
    if (m.waiting.empty() || (m.waiting.size() < batch && !m.windower.finished())) break;
    std::vector<render::Window> take;
    while (!m.waiting.empty() && take.size() < batch) {
      take.push_back(std::move(m.waiting.front()));
      m.waiting.pop_front();
    }
    for (auto& f : m.render_batch(take)) out.push_back(std::move(f));
  }
  m.drop_gates_before(m.waiting.empty() ? m.windower.frames_emitted() : m.waiting.front().frame_index);
  return out;
}

void RendererSession::finish() {
  if (lite_) return;  // every row is rendered as it comes
  impl_->windower.finish();
}

void RendererSession::reset() {
  if (lite_) {
    lite_->pending.clear();
    lite_->next_index = 0;
    return;
  }
  Impl& m = *impl_;
  m.windower.reset();
  m.waiting.clear();
  m.gates.clear();
  m.gates_first = 0;
}

}  // namespace tavce::pipeline
