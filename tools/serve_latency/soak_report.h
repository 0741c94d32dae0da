// `tavce-serve-latency soak-report`: turns what tools/soak-serve.sh sampled
// (the server's resident memory, threads and descriptors every few seconds,
// and the latency trace of `serve --trace`) into report.json and a PNG with
// RSS and latency over time (OpenCV drawing, no plotting package).
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace serve_latency {

// samples: JSON lines {"t_s", "rss_kib", "threads", "fds", ...}; latency:
// JSON lines of `serve --trace`. Writes OUT_DIR/report.json and
// OUT_DIR/soak.png and returns the report.
nlohmann::json write_soak_report(const std::string& samples, const std::string& latency, const std::string& out_dir,
                                 const nlohmann::json& extra);

}  // namespace serve_latency
