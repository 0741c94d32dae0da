// `tavce-serve-latency elements`: the avatar pipeline of tavce-serve
// (pipelines/serve/avatar.cpp: paced 48 kHz speech -> tavcemelspec ->
// tavceaudio2coeff -> tavcerenderer -> x264enc -> h264parse, and opusenc),
// run live without a server, comparing what each element answers to the
// LATENCY query with what it really adds.
//
// "Really adds": every buffer leaving a pad is `lateness` behind its own
// timestamp (clock now - (base time + running time of its PTS)); what an
// element adds is a quantile of the lateness on its source pad minus the same
// quantile on its sink pad: p50 (structure), p95 (with usual compute time,
// the one compared with the answer) and max (with the worst stall of a
// shared CPU, which lands on whatever thread was descheduled). A live sink only shows a frame in time if the
// pipeline's latency covers the largest lateness reaching it, so an answer
// smaller than what the element adds makes late frames, and a larger one
// delays every viewer for nothing.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace serve_latency {

struct ElementLatencyOptions {
  std::string portrait;        // required
  std::string model;           // empty = default bundle
  double seconds = 20;         // measured after the warm-up
  double warmup_seconds = 3;
  double tolerance_ms = 40;    // one video frame: answers within this of the measure agree
};

// Runs the pipeline and returns the report; throws std::runtime_error with a
// sentence on a pipeline that cannot be built or fails.
nlohmann::json measure_element_latency(const ElementLatencyOptions& opt);

}  // namespace serve_latency
