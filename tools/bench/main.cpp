// tavce-bench SUBCOMMAND [options]: prints one JSON object with the measurements.
//   mel [--seconds S] [--chunk SAMPLES] [--repeat R]   streaming mel front end, one thread
//   render [--threads N] [--batch B] [--size 256] [--frames F] [--model sadtalker|tavce]
//          full-size renderer per frame and per stage, random weights
//   pipeline [--threads N] [--frames F] [--size 256] [--batch B] [--portrait PATH] [--audio WAV|synthetic]
//            [--audio-frames A] [--device D]
//          whole render path (source preparation once, mel + audio2coeff on A frames of audio,
//          renderer on F frames after a warm-up batch)
//          through the element sessions, random full-size bundle in a temporary directory
//   lite [--model tavce-lite] [--threads N (0: as the elements pick)] [--seconds 20] [--portrait PATH] [--audio WAV|synthetic]
//        [--preprocess crop|full] [--rss-every S] [--loop-audio]
//          the lite family's render path (sessions start, source preparation, mel, audio network,
//          renderer per frame) on real speech and a real portrait, and the bundle's size
#include <sys/resource.h>

#include <cstdio>
#include <map>

#include "bench/bench.h"

namespace tavce::bench {

double peak_rss_mib() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss / 1024.0;  // Linux reports KiB
}

}  // namespace tavce::bench

int main(int argc, char** argv) {
  using namespace tavce;
  return tools::run_tool("tavce-bench", [&]() {
    const tools::Args args = tools::parse_args(argc, argv, {"loop-audio"});
    const std::map<std::string, nlohmann::json (*)(const tools::Args&)> commands = {
        {"mel", &bench::bench_mel},
        {"render", &bench::bench_render},
        {"pipeline", &bench::bench_pipeline},
        {"lite", &bench::bench_lite},
    };
    if (args.positional.empty() || !commands.count(args.positional[0])) {
      std::fprintf(stderr, "usage: tavce-bench {mel|render|pipeline|lite} [options]\n");
      return 2;
    }
    nlohmann::json result = commands.at(args.positional[0])(args);
    result["peak_rss_mib"] = bench::peak_rss_mib();
    std::printf("%s\n", result.dump(2).c_str());
    return 0;
  });
}
