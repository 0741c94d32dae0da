// tavce-convert IN_DIR OUT_BUNDLE [--name NAME] [--variant sadtalker|tavce]
//               [--layout 256|512|per-module] [--partial]
// tavce-convert --verify BUNDLE
//
// Turns the official SadTalker / TAVCE checkpoints in IN_DIR into a model
// bundle (docs/models.md "Model bundles"): each module is built at full size,
// loaded strictly, and re-saved as <module>.safetensors with model.json.
// SadTalker comes in three layouts (the 256 and 512 safetensors of the current
// release, or the older per-module checkpoints); --layout picks one, otherwise
// the files present decide. The size and sha256 of every input, and every
// file, checkpoint entry or module not converted, are printed one whole line
// at a time so models/official-manifest.json can be completed. --verify
// checks a bundle's files against its model.json.
#include <cstdio>
#include <iostream>
#include <string>

#include "common/cli.h"
#include "tavce/models/bundle.h"
#include "tavce/models/official_convert.h"
#include "tavce/models/official_sources.h"

namespace {

constexpr const char* kUsage =
    "usage: tavce-convert IN_DIR OUT_BUNDLE [--name NAME] [--variant sadtalker|tavce]\n"
    "                     [--layout 256|512|per-module] [--partial]\n"
    "       tavce-convert --verify BUNDLE\n";

void print_summary(const tavce::models::Bundle& b) {
  std::string line = "bundle '" + b.name + "' OK: " + std::to_string(b.files.size()) + " weight files, modules:";
  for (auto it = b.architecture.begin(); it != b.architecture.end(); ++it) line += " " + it.key();
  tavce::models::log_line(std::cout, line);
}

}  // namespace

int main(int argc, char** argv) {
  using namespace tavce;
  return tools::run_tool("tavce-convert", [&]() {
    const tools::Args args = tools::parse_args(argc, argv, {"partial", "help"});
    if (args.has("help")) {
      std::fputs(kUsage, stdout);
      return 0;
    }
    if (args.has("verify")) {
      if (!args.positional.empty()) {
        std::fputs(kUsage, stderr);
        return 2;
      }
      print_summary(models::verify_bundle(args.get("verify", "")));
      return 0;
    }
    if (args.positional.size() != 2) {
      std::fputs(kUsage, stderr);
      return 2;
    }
    models::ConvertOptions opt;
    opt.in_dir = args.positional[0];
    opt.out_dir = args.positional[1];
    opt.name = args.get("name", "");
    opt.variant = args.get("variant", "");
    opt.layout = args.get("layout", "");
    opt.partial = args.has("partial");
    print_summary(models::convert_official(opt, std::cout));
    return 0;
  });
}
