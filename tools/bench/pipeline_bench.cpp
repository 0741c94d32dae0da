// The whole render path at full size with random weights, through the same
// LoadedBundle / session code the elements use: a random full-size bundle is
// written to a temporary directory (models::write_bundle, save_tensors; the
// default config of every nn module is the official full size), then
//   source preparation once, each step timed (dlib detection, crop, alignment,
//     ReconNet coefficients, KPDetector, source mapping, generator encoder);
//   per video frame: mel front end, ExpNet + PoseVAE (Audio2CoeffSession, the
//     streaming class), renderer (RendererSession, the element's path).
// The bundle directory is removed at the end, also on errors.
#include <stdlib.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <random>
#include <string>
#include <system_error>
#include <vector>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "bench/bench.h"
#include "bench/bench_inputs.h"
#include "tavce/audio/mel_spectrogram.h"
#include "tavce/error.h"
#include "tavce/face/align_face.h"
#include "tavce/face/align_img.h"
#include "tavce/face/landmarks.h"
#include "tavce/face/recon.h"
#include "tavce/face/source.h"
#include "tavce/models/arch_configs.h"
#include "tavce/models/bundle.h"
#include "tavce/models/bundle_weights.h"
#include "tavce/nn/expnet.h"
#include "tavce/nn/keypoint_transform.h"
#include "tavce/nn/kp_detector.h"
#include "tavce/nn/mapping_net.h"
#include "tavce/nn/pose_vae.h"
#include "tavce/nn/recon_net.h"
#include "tavce/nn/spade_generator.h"
#include "tavce/nn/state_dict.h"
#include "tavce/pipeline/audio2coeff_session.h"
#include "tavce/pipeline/model_store.h"
#include "tavce/pipeline/renderer_session.h"
#include "tavce/render/driving.h"
#include "tavce/render/frames.h"
#include "tavce/runtime/threads.h"

namespace tavce::bench {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

// A temporary directory removed with everything in it when it goes out of scope.
struct TempDir {
  std::string path;
  TempDir() {
    std::error_code ec;
    fs::path base = fs::temp_directory_path(ec);
    if (ec) base = "/tmp";
    std::string tmpl = (base / "tavce-bench-bundle-XXXXXX").string();
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    if (!mkdtemp(buf.data())) throw Error("cannot create a temporary directory under " + base.string());
    path = buf.data();
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
};

// Writes module's state dict as dir/<name>.safetensors and records it in the bundle.
void add_module(models::Bundle& b, const std::string& dir, const std::string& name, const nlohmann::json& arch,
                const torch::nn::Module& module) {
  b.architecture[name] = arch;
  const std::string file = name + ".safetensors";
  models::save_tensors((fs::path(dir) / file).string(), nn::state_dict(module));
  b.files[file] = models::describe_file(dir, file, {name});
}

// A full-size SadTalker bundle with random weights (the official architectures).
void write_random_bundle(const std::string& dir, int64_t size) {
  at::manual_seed(0);
  models::Bundle b;
  b.name = "bench-random-full";
  b.description = "random weights, official full-size architectures (tavce-bench pipeline)";
  b.coefficient_space = "bfm-exp64-pose6";
  b.fps = 25.0;
  b.licence = "benchmark weights only: random";
  b.provenance = {{"writer", "tools/bench/pipeline_bench.cpp"}};
  {
    nn::ExpNetConfig c;
    add_module(b, dir, "expnet", models::to_json(c), *nn::ExpNet(c));
  }
  {
    nn::PoseVAEConfig c;
    c.training_parts = false;  // inference keys only, as a converted bundle holds them
    add_module(b, dir, "pose_vae", models::to_json(c), *nn::PoseVAE(c));
  }
  {
    nn::MappingNetConfig c;
    add_module(b, dir, "mapping", models::to_json(c), *nn::MappingNet(c));
  }
  {
    nn::KPDetectorConfig c;
    add_module(b, dir, "kp_detector", models::to_json(c), *nn::KPDetector(c));
  }
  {
    const nn::SpadeGeneratorConfig c = nn::SpadeGeneratorConfig::sadtalker();
    nlohmann::json arch = models::to_json(c);
    arch["image_size"] = size;
    add_module(b, dir, "generator", arch, *nn::OcclusionAwareSpadeGenerator(c));
  }
  {
    nn::ReconNetConfig c;
    add_module(b, dir, "recon", models::to_json(c), *nn::ReconNet(c));
  }
  models::write_bundle(dir, b);
}

}  // namespace

nlohmann::json bench_pipeline(const tools::Args& args) {
  const int threads = runtime::configure_threads(args.get_int("threads", 0));
  const int batch = args.get_int("batch", 1);
  const int64_t size = args.get_int("size", 256);
  const int frames = args.get_int("frames", 3);
  const std::string device = args.get("device", "cpu");
  if (frames < 1 || batch < 1) throw Error("--frames and --batch must be at least 1");
  // The audio stage runs on more frames than are rendered: PoseVAE decodes
  // 32-frame chunks, so a clip of a few frames would time mostly the tail
  // chunk. The renderer needs 13 rows of look-ahead past its last frame.
  const int audio_frames = std::max(args.get_int("audio-frames", 250), frames + batch + 14);
  const std::string portrait = bench_portrait(args);

  nlohmann::json result = {{"bench", "pipeline"}, {"model", "sadtalker (random weights, full size)"},
                           {"size", size},        {"batch", batch},
                           {"threads", threads},  {"device", device},
                           {"portrait", portrait}, {"frames", frames},
                           {"audio_frames", audio_frames}};

  // The audio: A video frames = A * 640 samples at 16 kHz.
  const size_t samples = static_cast<size_t>(audio_frames) * 640;
  const BenchAudio input = bench_audio(args, samples);
  const std::vector<float>& audio = input.samples;
  result["audio"] = input.source;

  TempDir tmp;
  auto t0 = Clock::now();
  write_random_bundle(tmp.path, size);
  nlohmann::json setup;
  setup["write_random_bundle_ms"] = ms_since(t0);

  // Networks, loaded as the elements load them (verify_bundle, strict load).
  t0 = Clock::now();
  auto models = pipeline::LoadedBundle::get(tmp.path, device);
  setup["verify_bundle_ms"] = ms_since(t0);
  t0 = Clock::now();
  nn::ReconNet recon = models->recon();
  nn::KPDetector kp_detector = models->kp_detector();
  nn::MappingNet mapping = models->mapping();
  nn::OcclusionAwareSpadeGenerator generator = models->generator();
  models->expnet();
  models->pose_vae();
  setup["load_networks_ms"] = ms_since(t0);

  // --- Source preparation, step by step (what prepare_source + the session do).
  cv::Mat bgr = cv::imread(portrait, cv::IMREAD_COLOR);
  if (bgr.empty()) throw Error("cannot read the portrait '" + portrait + "'");
  cv::Mat rgb;
  cv::cvtColor(bgr, rgb, cv::COLOR_BGR2RGB);
  result["portrait_size"] = {rgb.cols, rgb.rows};
  nlohmann::json once;
  t0 = Clock::now();
  const auto detector = face::LandmarkDetector::shared();
  setup["dlib_model_load_ms"] = ms_since(t0);
  t0 = Clock::now();
  const std::optional<face::Landmarks> landmarks = detector->largest(rgb);
  once["dlib_detect_ms"] = ms_since(t0);
  if (!landmarks) throw Error("no face found in '" + portrait + "'");
  t0 = Clock::now();
  const face::FaceAlignment alignment = face::align_face(*landmarks, rgb.size(), 512);
  const cv::Mat cut = face::apply_crop(rgb, alignment, false);
  cv::Mat pic;
  cv::resize(cut, pic, cv::Size(static_cast<int>(size), static_cast<int>(size)), 0, 0, cv::INTER_LINEAR);
  once["crop_ms"] = ms_since(t0);
  t0 = Clock::now();
  face::PreparedSource prepared;
  prepared.label = portrait;
  prepared.pic_landmarks = detector->largest(pic);
  const face::AlignedImage aligned = face::align_for_recon(pic, prepared.pic_landmarks);
  prepared.aligned = aligned.image;
  prepared.recon_input = face::recon_input_from_aligned(prepared.aligned);
  for (int i = 0; i < 5; ++i) prepared.trans_params[i] = float(aligned.trans_params[i]);
  once["align_ms"] = ms_since(t0);  // landmarks on the crop + align_img (224x224)
  {
    c10::InferenceMode guard;
    t0 = Clock::now();
    const at::Tensor coeff73 = face::source_coeff_3dmm(*recon, prepared);
    once["recon_coefficients_ms"] = ms_since(t0);
    const at::Tensor image = render::image_from_rgb8(pic.data, pic.rows, pic.cols, static_cast<int64_t>(pic.step))
                                 .to(models->device());
    t0 = Clock::now();
    const at::Tensor kp_canonical = kp_detector->forward(image);
    once["kp_detector_ms"] = ms_since(t0);
    t0 = Clock::now();
    const at::Tensor semantics = render::source_semantics(coeff73, false).to(models->device());
    (void)nn::keypoint_transformation(kp_canonical, mapping->forward(semantics)).value.sum().item<float>();
    once["source_mapping_ms"] = ms_since(t0);
    t0 = Clock::now();
    const nn::SourceFeatures features = generator->encode_source(image);
    once["encode_source_ms"] = ms_since(t0);
  }
  double once_total = 0;
  for (auto it = once.begin(); it != once.end(); ++it) once_total += it->get<double>();
  once["sum_ms"] = once_total;

  // The same through the renderer session (cold source cache): what the
  // element pays when a portrait arrives.
  pipeline::RendererSettings rs;
  rs.model = tmp.path;
  rs.device = device;
  rs.batch_size = batch;
  rs.threads = threads;
  pipeline::RendererSession renderer(rs);
  t0 = Clock::now();
  renderer.set_portrait_file(portrait);
  once["renderer_session_set_portrait_ms"] = ms_since(t0);

  pipeline::Audio2CoeffSettings as;
  as.model = tmp.path;
  as.device = device;
  as.source_image = portrait;  // prepared already: the shared source cache hit, ReconNet runs again
  as.threads = threads;
  t0 = Clock::now();
  pipeline::Audio2CoeffSession a2c(as);
  once["audio2coeff_session_start_ms"] = ms_since(t0);
  result["source_once"] = once;
  result["setup"] = setup;

  // --- Per video frame: mel front end (chunks of one video frame of audio).
  audio::MelSpectrogram mel;
  std::vector<float> mels;
  t0 = Clock::now();
  for (size_t at = 0; at < samples; at += 640) mel.push(audio.data() + at, std::min<size_t>(640, samples - at), mels);
  mel.finish(mels);
  const double mel_ms = ms_since(t0);
  const int64_t n_mel = static_cast<int64_t>(mels.size()) / mel.n_mels();

  // ExpNet + PoseVAE through the streaming session, 16 mel frames at a time.
  std::vector<std::vector<float>> rows;
  t0 = Clock::now();
  for (int64_t at = 0; at < n_mel; at += 16) {
    a2c.push_mel(mels.data() + at * mel.n_mels(), std::min<int64_t>(16, n_mel - at));
    for (auto& r : a2c.pop_ready()) rows.push_back(std::move(r));
  }
  a2c.finish();
  for (auto& r : a2c.pop_ready()) rows.push_back(std::move(r));
  const double a2c_ms = ms_since(t0);
  if (rows.size() < 2) throw Error("audio2coeff produced " + std::to_string(rows.size()) + " rows");

  // Renderer: rows in, frames out as their windows complete (frame i once row
  // i + 13 is in), as the element drives it. The first rendered batch is a
  // warm-up and not counted; then `frames` frames are timed.
  double render_ms = 0, first_batch_ms = 0;
  int64_t rendered = 0, counted = 0;
  for (const auto& r : rows) {
    if (counted >= frames) break;
    renderer.push(r.data(), static_cast<int64_t>(r.size()));
    const auto start = Clock::now();
    const auto out = renderer.pop_ready();
    const double ms = ms_since(start);
    if (out.empty()) continue;
    if (rendered == 0) {
      first_batch_ms = ms;
    } else {
      render_ms += ms;
      counted += static_cast<int64_t>(out.size());
    }
    rendered += static_cast<int64_t>(out.size());
  }
  if (counted == 0) throw Error("too few coefficient rows to time the renderer after its warm-up");

  nlohmann::json per_frame;
  per_frame["mel_ms"] = mel_ms / double(rows.size());
  per_frame["audio2coeff_ms"] = a2c_ms / double(rows.size());  // ExpNet + PoseVAE + sequencing
  per_frame["renderer_ms"] = render_ms / double(counted);
  result["coefficient_rows"] = rows.size();
  result["mel_frames"] = n_mel;
  result["frames_rendered"] = rendered;
  result["renderer_frames_timed"] = counted;
  result["renderer_first_batch_ms"] = first_batch_ms;
  result["per_frame"] = per_frame;
  result["total_ms_per_frame"] =
      per_frame["mel_ms"].get<double>() + per_frame["audio2coeff_ms"].get<double>() + per_frame["renderer_ms"].get<double>();
  result["realtime_factor"] = 40.0 / result["total_ms_per_frame"].get<double>();  // 25 fps: 40 ms per frame
  return result;
}

}  // namespace tavce::bench
