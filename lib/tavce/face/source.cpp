#include "tavce/face/source.h"

#include <deque>
#include <future>
#include <map>
#include <mutex>

#include <opencv2/imgproc.hpp>

#include "tavce/error.h"
#include "tavce/util/sha256.h"

namespace tavce::face {

std::string image_content_hash(const cv::Mat& image) {
  util::Sha256 h;
  const std::string header = std::to_string(image.rows) + "x" + std::to_string(image.cols) + ":" +
                             std::to_string(image.type()) + ";";
  h.update(header);
  const size_t row_bytes = size_t(image.cols) * image.elemSize();
  for (int r = 0; r < image.rows; ++r) h.update(image.ptr(r), row_bytes);
  return h.final_hex();
}

cv::Mat recon_input_from_aligned(const cv::Mat& aligned) {
  if (aligned.empty() || aligned.type() != CV_8UC3) throw Error("recon input: needs an RGB uint8 image");
  const int sizes[4] = {1, 3, aligned.rows, aligned.cols};
  cv::Mat t(4, sizes, CV_32F);
  float* dst = t.ptr<float>();
  const size_t plane = size_t(aligned.rows) * aligned.cols;
  for (int y = 0; y < aligned.rows; ++y) {
    const auto* p = aligned.ptr<cv::Vec3b>(y);
    for (int x = 0; x < aligned.cols; ++x)
      for (int c = 0; c < 3; ++c)
        // torch.tensor(np.array(im) / 255., dtype=float32): float64 division, then one rounding.
        dst[c * plane + size_t(y) * aligned.cols + x] = float(p[x][c] / 255.0);
  }
  return t;
}

PreparedSource prepare_source(const cv::Mat& rgb, const std::string& label, const SourceOptions& options) {
  if (rgb.empty() || rgb.type() != CV_8UC3) throw Error(label + ": the source image must be a non-empty RGB uint8 image");
  if (options.size < 16) throw Error(label + ": bad source picture size " + std::to_string(options.size));
  PreparedSource src;
  src.label = label;
  src.content_hash = image_content_hash(rgb);
  src.preprocess = options.preprocess;
  src.size = options.size;
  src.original = rgb.clone();
  const auto detector = LandmarkDetector::shared(options.predictor_path);

  cv::Mat cut;
  if (needs_face(options.preprocess)) {
    src.source_landmarks = detector->largest(rgb);
    if (!src.source_landmarks)
      throw Error(label + ": no face found (dlib frontal face detector) for preprocess=" +
                  to_string(options.preprocess) +
                  "; use preprocess=resize to animate the whole image without face detection");
    // xsize = 512 in Preprocesser.crop.
    src.alignment = align_face(*src.source_landmarks, rgb.size(), 512);
    cut = apply_crop(rgb, *src.alignment, is_extended(options.preprocess));
    src.crop_info = crop_info_of(*src.alignment);
  } else {
    cut = rgb;
    src.crop_info = crop_info_resize(rgb.size());
  }
  // pic.png: cv2.resize (INTER_LINEAR) of the cut to size x size.
  if (cut.size() == cv::Size(options.size, options.size))
    src.pic = cut.clone();
  else
    cv::resize(cut, src.pic, cv::Size(options.size, options.size), 0, 0, cv::INTER_LINEAR);

  // The reference runs its landmark model again on the picture and aligns
  // with those points, falling back to lm3d_std when none are found.
  src.pic_landmarks = detector->largest(src.pic);
  AlignedImage al = align_for_recon(src.pic, src.pic_landmarks);
  src.aligned = al.image;
  src.recon_input = recon_input_from_aligned(src.aligned);
  for (int i = 0; i < 5; ++i) src.trans_params[i] = float(al.trans_params[i]);
  return src;
}

struct SourceCache::State {
  size_t capacity;
  mutable std::mutex mutex;
  std::map<std::string, std::shared_future<std::shared_ptr<const PreparedSource>>> entries;
  std::deque<std::string> order;  // insertion order, for eviction
};

SourceCache::SourceCache(size_t capacity) : state_(std::make_unique<State>()) {
  state_->capacity = capacity ? capacity : 1;
}
SourceCache::~SourceCache() = default;

SourceCache& SourceCache::shared() {
  static SourceCache cache;
  return cache;
}

std::shared_ptr<const PreparedSource> SourceCache::get(const cv::Mat& rgb, const std::string& label,
                                                       const SourceOptions& options) {
  const std::string key = image_content_hash(rgb) + "|" + to_string(options.preprocess) + "|" +
                          std::to_string(options.size) + "|" +
                          (options.predictor_path.empty() ? default_predictor_path() : options.predictor_path);
  std::promise<std::shared_ptr<const PreparedSource>> promise;
  std::shared_future<std::shared_ptr<const PreparedSource>> mine = promise.get_future().share();
  std::shared_future<std::shared_ptr<const PreparedSource>> theirs;
  {
    std::lock_guard<std::mutex> lock(state_->mutex);
    if (auto it = state_->entries.find(key); it != state_->entries.end()) {
      theirs = it->second;
    } else {
      state_->entries.emplace(key, mine);
      state_->order.push_back(key);
      while (state_->order.size() > state_->capacity) {
        state_->entries.erase(state_->order.front());
        state_->order.pop_front();
      }
    }
  }
  // Present (or being prepared by another thread): wait outside the lock.
  if (theirs.valid()) return theirs.get();

  try {
    auto result = std::make_shared<const PreparedSource>(prepare_source(rgb, label, options));
    promise.set_value(result);
    return result;
  } catch (...) {
    // Waiters see the same error; later calls try again.
    promise.set_exception(std::current_exception());
    std::lock_guard<std::mutex> lock(state_->mutex);
    if (auto it = state_->entries.find(key); it != state_->entries.end()) {
      state_->entries.erase(it);
      for (auto o = state_->order.begin(); o != state_->order.end(); ++o)
        if (*o == key) {
          state_->order.erase(o);
          break;
        }
    }
    throw;
  }
}

size_t SourceCache::size() const {
  std::lock_guard<std::mutex> lock(state_->mutex);
  return state_->entries.size();
}

void SourceCache::clear() {
  std::lock_guard<std::mutex> lock(state_->mutex);
  state_->entries.clear();
  state_->order.clear();
}

}  // namespace tavce::face
