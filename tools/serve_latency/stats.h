// Percentiles for the latency report (nearest rank on the sorted values).
#pragma once

#include <vector>

#include <nlohmann/json.hpp>

namespace serve_latency {

// {"count", "p50", "p95", "max", "min", "mean"} of the values; count 0 and
// nulls when there are none.
nlohmann::json summarize(std::vector<double> values);

// Offsets in frames split into whole frames and the rest, in ms:
// {"whole_frames": {"-1": n, "0": n, ...}, "residual_ms": summarize(rest)},
// each offset = whole + rest / frame_ms with whole its nearest integer. For
// the stream's A/V offset: a timing error moves the rest (or, when it is
// systematic, the median of the whole frames); a mouth detector that fires a
// frame earlier or later live than offline moves only the whole frames.
nlohmann::json split_whole_frames(const std::vector<double>& offsets_frames, double frame_ms);

}  // namespace serve_latency
