// Percentiles for the latency report (nearest rank on the sorted values).
#pragma once

#include <vector>

#include <nlohmann/json.hpp>

namespace serve_latency {

// {"count", "p50", "p95", "max", "min", "mean"} of the values; count 0 and
// nulls when there are none.
nlohmann::json summarize(std::vector<double> values);

}  // namespace serve_latency
