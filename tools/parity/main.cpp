// tavce-parity CASE_DIR [--case NAME] [--threads N]
// Runs a golden case folder (../shared/golden/<module>) and prints one JSON line
// per output: {"case", "output", "max_abs_err", "atol", "rtol", "pass"}.
// Exits 1 when any output fails, 2 on an error (unknown module, bad files).
#include <cstdio>

#include "common/cli.h"
#include "parity/case_runner.h"
#include "tavce/error.h"
#include "tavce/runtime/threads.h"

int main(int argc, char** argv) {
  using namespace tavce;
  return tools::run_tool("tavce-parity", [&]() {
    const tools::Args args = tools::parse_args(argc, argv);
    if (args.positional.size() != 1) {
      std::fprintf(stderr, "usage: tavce-parity CASE_DIR [--case NAME] [--threads N]\n");
      return 2;
    }
    // The golden data was made with one thread; more threads change the
    // summation order of reductions slightly, which the tolerances allow.
    runtime::configure_threads(args.get_int("threads", 0));
    parity::CaseFolder folder(args.positional[0]);
    const auto runners = parity::all_runners();
    parity::CaseRunner* runner = nullptr;
    for (const auto& r : runners)
      if (r->handles(folder.module())) runner = r.get();
    if (!runner) throw Error(folder.dir().string() + ": no runner for module '" + folder.module() + "'");

    parity::Report report;
    const std::string only = args.get("case", "");
    for (const auto& case_spec : folder.spec().at("cases")) {
      if (!only.empty() && case_spec.value("name", "") != only) continue;
      runner->run(folder, case_spec, report);
    }
    if (report.results().empty()) throw Error("no case matched");
    return report.all_pass() ? 0 : 1;
  });
}
