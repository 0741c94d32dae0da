// Sub-commands of tavce-bench: each measures one capability and returns a JSON object.
#pragma once

#include <nlohmann/json.hpp>

#include "common/cli.h"

namespace tavce::bench {

nlohmann::json bench_mel(const tools::Args& args);
nlohmann::json bench_render(const tools::Args& args);
nlohmann::json bench_pipeline(const tools::Args& args);
nlohmann::json bench_lite(const tools::Args& args);

// Peak resident set size of this process, in MiB.
double peak_rss_mib();

}  // namespace tavce::bench
