#include "tavce/pipeline/reference_motion.h"

#include <cstring>
#include <fstream>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>

#include "tavce/error.h"
#include "tavce/face/recon.h"
#include "tavce/face/source.h"
#include "tavce/pipeline/model_store.h"

namespace tavce::pipeline {

namespace {

constexpr size_t kCoeffs = 70;

bool has_suffix(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::vector<std::vector<float>> read_rows(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("cannot open the reference coefficients '" + path + "'");
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t n = bytes.size() / 4;
  size_t width = 0;
  if (bytes.size() % 4 == 0 && n > 0) width = n % 70 == 0 ? 70 : n % 73 == 0 ? 73 : n % 198 == 0 ? 198 : 0;
  if (!width)
    throw Error("reference coefficients '" + path + "' hold " + std::to_string(bytes.size()) +
                " bytes: expected rows of 70 (or 73, or 198 with a CERL gate) little-endian float32 values");
  std::vector<std::vector<float>> rows(n / width, std::vector<float>(kCoeffs));
  for (size_t r = 0; r < rows.size(); ++r)
    for (size_t k = 0; k < kCoeffs; ++k) {
      uint32_t u = 0;
      for (int b = 3; b >= 0; --b) u = (u << 8) | static_cast<uint8_t>(bytes[4 * (r * width + k) + b]);
      std::memcpy(&rows[r][k], &u, 4);
    }
  return rows;
}

}  // namespace

std::vector<std::vector<float>> reference_coefficients(const std::string& path, LoadedBundle& models,
                                                       const std::string& preprocess) {
  if (has_suffix(path, ".coeffs") || has_suffix(path, ".f32")) return read_rows(path);
  cv::VideoCapture video(path);
  if (!video.isOpened())
    throw Error("cannot open the reference video '" + path + "' (or give a .coeffs file of 70-value rows)");
  face::SourceOptions opts;
  opts.preprocess = face::parse_preprocess(preprocess);
  opts.size = models.image_size();
  nn::ReconNet recon = models.recon();  // throws, naming the bundle, without a recon network
  c10::InferenceMode guard;
  std::vector<std::vector<float>> rows;
  int64_t missing_before_first = 0;
  cv::Mat bgr, rgb;
  for (int64_t frame = 0; video.read(bgr); ++frame) {
    cv::cvtColor(bgr, rgb, cv::COLOR_BGR2RGB);
    try {
      const face::PreparedSource src =
          face::prepare_source(rgb, path + " frame " + std::to_string(frame), opts);
      at::Tensor c = face::source_coeff_3dmm(*recon, src).to(at::kFloat).contiguous();
      rows.emplace_back(c.data_ptr<float>(), c.data_ptr<float>() + kCoeffs);
    } catch (const Error&) {
      // No face in this frame: keep the motion continuous.
      if (rows.empty()) ++missing_before_first;
      else rows.push_back(rows.back());
    }
  }
  if (rows.empty()) throw Error("the reference video '" + path + "' has no frame with a detectable face");
  // Frames before the first face take its row, so row t is still frame t.
  rows.insert(rows.begin(), static_cast<size_t>(missing_before_first), rows.front());
  return rows;
}

}  // namespace tavce::pipeline
