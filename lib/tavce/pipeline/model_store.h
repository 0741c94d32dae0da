// Bundles as the elements use them: found by name or path, loaded once per
// (bundle, device) and shared by every session that asks (an RTSP server
// builds one pipeline per client; each must not load its own copy).
//
// Networks are loaded on first use, strictly (a key or shape difference is an
// error listing them), put in eval mode and moved to the device. Sessions run
// them under c10::InferenceMode, which never changes module state, so sharing
// between threads is safe.
#pragma once

#include <memory>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include <c10/core/Device.h>

#include "tavce/families/lite/audio_net.h"
#include "tavce/families/lite/motion_space.h"
#include "tavce/models/bundle.h"
#include "tavce/nn/correlation.h"
#include "tavce/nn/expnet.h"
#include "tavce/nn/kp_detector.h"
#include "tavce/nn/mapping_net.h"
#include "tavce/nn/pose_vae.h"
#include "tavce/nn/recon_net.h"
#include "tavce/nn/spade_generator.h"
#include "tavce/nn/syncnet.h"

namespace tavce::face {
struct PreparedSource;
}

namespace tavce::pipeline {

// Where bundle names are looked up, in order: the directories of
// $TAVCE_MODEL_PATH (colon-separated), the installed models directory, and
// (for uninstalled builds) the source tree's models/.
std::vector<std::string> bundle_search_path();

// The bundle "default" (and an empty model) resolves to when no bundle of
// that name is installed: the lite model shipped in models/.
inline constexpr const char* kDefaultBundleName = "tavce-lite";

// `model` is a directory holding model.json, or a bundle name; empty means
// "default". Throws tavce::Error listing where it looked.
std::string locate_bundle(const std::string& model);

// The intra-op threads a session uses: `requested` when > 0; for 0 (auto),
// the cores this process may use, except for lite bundles: their networks
// are so small that threads only add synchronisation (tavce-bench lite
// measured 0.07 ms per frame on 1 thread against 0.4-35 ms on 2 threads of
// a busy 2-core machine), so they run on 1.
int session_threads(int requested, const models::Bundle& bundle);

// auto | cpu | cuda | cuda:N -> a device this build and machine can use.
// Throws tavce::Error when CUDA is asked for but not available, saying why.
c10::Device parse_device(const std::string& spec);

class LoadedBundle {
 public:
  // The shared instance for (bundle directory, device); verify_bundle runs
  // once, on first load (sizes and sha256 of every weight file).
  static std::shared_ptr<LoadedBundle> get(const std::string& model, const std::string& device);

  const models::Bundle& bundle() const { return bundle_; }
  const std::string& dir() const { return dir_; }
  c10::Device device() const { return device_; }

  nn::ExpNet expnet();
  nn::PoseVAE pose_vae();
  nn::MappingNet mapping();       // coeff_nc 70 ("mapping")
  nn::MappingNet mapping_full();  // coeff_nc 73 ("mapping_full"), for full/extfull
  nn::KPDetector kp_detector();
  nn::OcclusionAwareSpadeGenerator generator();
  nn::ReconNet recon();
  nn::CorrelationAudioEncoder correlation_audio();
  nn::SyncNet syncnet();  // "syncnet": syncnet_python S (LSE-D / LSE-C)
  // The lite family (bundle().is_lite()): its audio network and motion space.
  lite::AudioNet lite_audio_net();
  std::shared_ptr<const lite::MotionSpace> lite_motion_space();

  // Renderer image side (the kp_detector's and generator's input size).
  int image_size() const;

  // Throws, naming the bundle and the property to use instead, when the
  // bundle has no face reconstruction network.
  void require_recon() const;
  // The portrait's 73 coefficients (coeff_3dmm: exp, angle, trans, crop
  // params) from the `recon` network. Memoised per prepared portrait, so the
  // audio and the rendering element of one pipeline run ReconNet once.
  std::vector<float> portrait_coefficients(const face::PreparedSource& portrait);

  LoadedBundle(std::string dir, models::Bundle bundle, c10::Device device);

 private:
  template <typename Net, typename Make>
  Net load(Net& slot, const std::string& module, Make make);

  std::string dir_;
  models::Bundle bundle_;
  c10::Device device_;
  std::mutex mutex_;
  nn::ExpNet expnet_{nullptr};
  nn::PoseVAE pose_vae_{nullptr};
  nn::MappingNet mapping_{nullptr}, mapping_full_{nullptr};
  nn::KPDetector kp_detector_{nullptr};
  nn::OcclusionAwareSpadeGenerator generator_{nullptr};
  nn::ReconNet recon_{nullptr};
  nn::CorrelationAudioEncoder correlation_audio_{nullptr};
  std::map<std::string, std::vector<float>> portrait_coefficients_;  // by portrait key, under mutex_
  nn::SyncNet syncnet_{nullptr};
  lite::AudioNet lite_audio_net_{nullptr};
  std::shared_ptr<const lite::MotionSpace> lite_space_;
};

// Reads a raw little-endian float32 coefficient file (np.tofile) holding one
// row of 70 or 73 values (more rows: the first is used). Clear errors for a
// missing file or another length.
std::vector<float> read_coeff_file(const std::string& path);

}  // namespace tavce::pipeline
