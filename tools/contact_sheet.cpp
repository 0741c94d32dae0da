// tavce-contact-sheet OUT.png VIDEO [VIDEO...] [--frames N] [--height H] [--crop X,Y,W,H]
// One row per video: N frames spread evenly over it, each scaled to H pixels
// high, with the frame number written on it. For looking at renders.
#include <cstdio>
#include <vector>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "common/cli.h"
#include "common/media_decode.h"
#include "tavce/error.h"

int main(int argc, char** argv) {
  return tavce::tools::run_tool("tavce-contact-sheet", [&] {
    const auto args = tavce::tools::parse_args(argc, argv);
    if (args.positional.size() < 2) throw tavce::Error("usage: tavce-contact-sheet OUT.png VIDEO... [--frames N] [--height H]");
    const int n = args.get_int("frames", 8), height = args.get_int("height", 192);
    cv::Rect crop;  // a detail (the mouth) instead of the whole frame
    if (args.has("crop") &&
        std::sscanf(args.get("crop", "").c_str(), "%d,%d,%d,%d", &crop.x, &crop.y, &crop.width, &crop.height) != 4)
      throw tavce::Error("--crop wants X,Y,W,H");
    std::vector<cv::Mat> rows;
    for (size_t v = 1; v < args.positional.size(); ++v) {
      std::vector<cv::Mat> frames;
      (void)tavce::tools::decode_talking_face(args.positional[v], [&](const tavce::tools::BgrFrame& f) {
        cv::Mat m(f.height, f.width, CV_8UC3, const_cast<uint8_t*>(f.data), f.stride);
        if (crop.area() > 0) m = m(crop & cv::Rect(0, 0, f.width, f.height));
        frames.push_back(m.clone());
      });
      if (frames.empty()) throw tavce::Error(args.positional[v] + ": no video frames");
      std::vector<cv::Mat> tiles;
      for (int k = 0; k < n; ++k) {
        const size_t i = frames.size() * static_cast<size_t>(k) / static_cast<size_t>(n);
        cv::Mat t;
        cv::resize(frames[i], t, cv::Size(frames[i].cols * height / frames[i].rows, height), 0, 0, cv::INTER_AREA);
        cv::putText(t, std::to_string(i), {4, 16}, cv::FONT_HERSHEY_SIMPLEX, 0.5, {0, 255, 255}, 1, cv::LINE_AA);
        tiles.push_back(t);
      }
      cv::Mat row;
      cv::hconcat(tiles, row);
      rows.push_back(row);
    }
    int width = 0;
    for (const auto& r : rows) width = std::max(width, r.cols);
    for (auto& r : rows)
      if (r.cols < width) cv::copyMakeBorder(r, r, 0, 0, 0, width - r.cols, cv::BORDER_CONSTANT, cv::Scalar(0, 0, 0));
    cv::Mat sheet;
    cv::vconcat(rows, sheet);
    if (!cv::imwrite(args.positional[0], sheet)) throw tavce::Error("cannot write " + args.positional[0]);
    return 0;
  });
}
