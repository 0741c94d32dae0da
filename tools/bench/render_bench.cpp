// Full-size renderer cost per frame (random weights, CPU or CUDA):
// mapping + keypoint transform + generator, with the source-only work (KPDetector,
// source mapping, generator encoder and, for SadTalker, resblocks_3d) done once.
#include <chrono>
#include <map>
#include <string>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include "bench/bench.h"
#include "tavce/nn/keypoint_transform.h"
#include "tavce/nn/kp_detector.h"
#include "tavce/nn/mapping_net.h"
#include "tavce/nn/spade_generator.h"
#include "tavce/runtime/threads.h"

namespace tavce::bench {
namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

}  // namespace

nlohmann::json bench_render(const tools::Args& args) {
  const int threads = runtime::configure_threads(args.get_int("threads", 0));
  const int64_t batch = args.get_int("batch", 1);
  const int64_t size = args.get_int("size", 256);
  const int frames = args.get_int("frames", 3);
  const bool tavce = args.get("model", "sadtalker") == "tavce";

  at::manual_seed(0);
  nn::KPDetector kp_detector(nn::KPDetectorConfig{});
  nn::MappingNet mapping(nn::MappingNetConfig{});
  nn::OcclusionAwareSpadeGenerator generator(tavce ? nn::SpadeGeneratorConfig::tavce()
                                                   : nn::SpadeGeneratorConfig::sadtalker());
  kp_detector->eval();
  mapping->eval();
  generator->eval();

  c10::InferenceMode guard;
  const at::Tensor source = at::rand({1, 3, size, size});
  const at::Tensor source_coeffs = at::randn({1, 70, 27});

  nlohmann::json once;
  auto t0 = Clock::now();
  const at::Tensor kp_canonical = kp_detector->forward(source);
  once["kp_detector_ms"] = ms_since(t0);
  t0 = Clock::now();
  const at::Tensor kp_source = nn::keypoint_transformation(kp_canonical, mapping->forward(source_coeffs)).value;
  once["source_mapping_ms"] = ms_since(t0);
  t0 = Clock::now();
  const nn::SourceFeatures features = generator->encode_source(source);
  once["encode_source_ms"] = ms_since(t0);

  std::map<std::string, double> stage_ms;
  double total_ms = 0;
  for (int f = -1; f < frames; ++f) {  // f = -1 is a warm-up frame, not counted
    std::map<std::string, double> this_frame;
    auto mark = Clock::now();
    auto lap = [&](const std::string& stage) {
      this_frame[stage] += ms_since(mark);
      mark = Clock::now();
    };
    const auto frame_start = mark;
    const at::Tensor driving = at::randn({batch, 70, 27});
    const nn::HeadPose pose = mapping->forward(driving);
    lap("mapping");
    const at::Tensor kp_driving = nn::keypoint_transformation(kp_canonical.expand({batch, -1, -1}), pose).value;
    lap("keypoint_transform");
    nn::CerlInput cerl;
    if (tavce) {
      cerl.audio_prev = at::randn({batch, 128});
      cerl.audio_cur = at::randn({batch, 128});
    }
    nn::GeneratorTrace trace;
    trace.on_stage = [&](const char* stage) { lap(stage); };
    const nn::GeneratorOutput out = generator->render(features, kp_source, kp_driving, cerl, &trace);
    (void)out.prediction.sum().item<float>();  // make sure the work is done
    const double ms = ms_since(frame_start);
    if (f < 0) continue;
    total_ms += ms;
    for (const auto& [stage, v] : this_frame) stage_ms[stage] += v;
  }
  nlohmann::json per_frame;
  const double n = double(frames) * double(batch);
  for (const auto& [stage, v] : stage_ms) per_frame[stage + "_ms"] = v / n;
  return {{"bench", "render"},
          {"model", tavce ? "tavce" : "sadtalker"},
          {"size", size},
          {"batch", batch},
          {"threads", threads},
          {"frames_timed", frames * batch},
          {"source_once", once},
          {"per_frame", per_frame},
          {"total_ms_per_frame", total_ms / n}};
}

}  // namespace tavce::bench
