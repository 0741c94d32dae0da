// tavce-mel2png MEL.f32 OUT.png [--n-mels 80] [--height-scale 3]
// Draws a raw mel dump (what `tavcemelspec ! filesink` writes: float32 frames of
// n_mels values) as an image: time left to right, low frequencies at the bottom,
// -4..4 mapped through a perceptual colour map.
#include <cstdio>
#include <fstream>
#include <vector>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "common/cli.h"
#include "tavce/error.h"

int main(int argc, char** argv) {
  using namespace tavce;
  return tools::run_tool("tavce-mel2png", [&]() {
    const tools::Args args = tools::parse_args(argc, argv);
    if (args.positional.size() != 2) {
      std::fprintf(stderr, "usage: tavce-mel2png MEL.f32 OUT.png [--n-mels 80] [--height-scale 3]\n");
      return 2;
    }
    const int n_mels = args.get_int("n-mels", 80);
    const int scale = args.get_int("height-scale", 3);
    std::ifstream in(args.positional[0], std::ios::binary);
    if (!in) throw Error(args.positional[0] + ": cannot open");
    std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (bytes.empty() || bytes.size() % (sizeof(float) * n_mels) != 0)
      throw Error(args.positional[0] + ": size " + std::to_string(bytes.size()) +
                  " is not a whole number of " + std::to_string(n_mels) + "-value float32 frames");
    const int frames = int(bytes.size() / (sizeof(float) * n_mels));
    const float* mel = reinterpret_cast<const float*>(bytes.data());

    cv::Mat gray(n_mels, frames, CV_8UC1);
    for (int t = 0; t < frames; ++t)
      for (int c = 0; c < n_mels; ++c) {
        const float v = std::min(4.0f, std::max(-4.0f, mel[size_t(t) * n_mels + c]));
        gray.at<uint8_t>(n_mels - 1 - c, t) = uint8_t((v + 4.0f) / 8.0f * 255.0f + 0.5f);
      }
    cv::Mat colour, big;
    cv::applyColorMap(gray, colour, cv::COLORMAP_INFERNO);
    cv::resize(colour, big, cv::Size(frames, n_mels * scale), 0, 0, cv::INTER_NEAREST);
    if (!cv::imwrite(args.positional[1], big)) throw Error(args.positional[1] + ": cannot write PNG");
    std::printf("%s: %d mel frames (%.2f s) -> %s\n", args.positional[0].c_str(), frames,
                frames / 80.0, args.positional[1].c_str());
    return 0;
  });
}
