#include "tavce/pipeline/model_store.h"

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <utility>

#include <c10/core/InferenceMode.h>
#include <torch/cuda.h>

#include "tavce/error.h"
#include "tavce/face/recon.h"
#include "tavce/face/source.h"
#include "tavce/families/lite/lite_bundle.h"
#include "tavce/models/bundle_weights.h"

#ifndef TAVCE_INSTALLED_MODELS_DIR
#define TAVCE_INSTALLED_MODELS_DIR ""
#endif
#ifndef TAVCE_SOURCE_MODELS_DIR
#define TAVCE_SOURCE_MODELS_DIR ""
#endif

namespace fs = std::filesystem;

namespace tavce::pipeline {

std::vector<std::string> bundle_search_path() {
  std::vector<std::string> dirs;
  if (const char* env = std::getenv("TAVCE_MODEL_PATH")) {
    std::stringstream ss(env);
    std::string d;
    while (std::getline(ss, d, ':'))
      if (!d.empty()) dirs.push_back(d);
  }
  for (const char* d : {TAVCE_INSTALLED_MODELS_DIR, TAVCE_SOURCE_MODELS_DIR})
    if (*d) dirs.emplace_back(d);
  return dirs;
}

int session_threads(int requested, const models::Bundle& bundle) {
  if (requested > 0) return requested;
  return bundle.is_lite() ? 1 : 0;  // 0: configure_threads takes the available cores
}

std::string locate_bundle(const std::string& model) {
  const std::string name = model.empty() ? "default" : model;
  // A path (anything with a separator, or an existing directory) is used as is.
  if (name.find('/') != std::string::npos || fs::is_directory(name)) {
    if (!fs::is_directory(name)) throw Error("model bundle '" + name + "' does not exist");
    return name;
  }
  std::string looked;
  // "default" is a bundle of that name if someone installed one, else the
  // project's own shipped model.
  std::vector<std::string> names{name};
  if (name == "default") names.push_back(kDefaultBundleName);
  for (const std::string& n : names)
    for (const std::string& dir : bundle_search_path()) {
      const fs::path candidate = fs::path(dir) / n;
      if (fs::is_regular_file(candidate / models::kBundleManifestName)) return candidate.string();
      looked += (looked.empty() ? "" : ", ") + candidate.string();
    }
  throw Error("no model bundle named '" + name + "' (looked in " + (looked.empty() ? "nothing" : looked) +
              "). Give model=/path/to/bundle, add its parent directory to TAVCE_MODEL_PATH, or convert the "
              "official checkpoints with tavce-convert (docs/models.md)");
}

c10::Device parse_device(const std::string& spec) {
  const std::string s = spec.empty() ? "auto" : spec;
  if (s == "auto") return torch::cuda::is_available() ? c10::Device(c10::kCUDA, 0) : c10::Device(c10::kCPU);
  if (s == "cpu") return c10::Device(c10::kCPU);
  if (s == "cuda" || s.rfind("cuda:", 0) == 0) {
    int index = 0;
    if (s.size() > 5) {
      const std::string n = s.substr(5);
      if (n.empty() || n.find_first_not_of("0123456789") != std::string::npos)
        throw Error("device '" + s + "': expected cuda:N with N a GPU index");
      index = std::stoi(n);
    }
    if (!torch::cuda::is_available())
      throw Error("device '" + s + "' asked for, but CUDA is not available: this build's LibTorch " +
                  "has no CUDA support or no GPU is visible. Use device=cpu, or rebuild with "
                  "-Dlibtorch=/path/to/cuda/libtorch -Dcuda=enabled");
    const int count = static_cast<int>(torch::cuda::device_count());
    if (index >= count)
      throw Error("device '" + s + "': only " + std::to_string(count) + " CUDA device(s) visible");
    return c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(index));
  }
  throw Error("device '" + s + "' is not one of auto, cpu, cuda, cuda:N");
}

LoadedBundle::LoadedBundle(std::string dir, models::Bundle bundle, c10::Device device)
    : dir_(std::move(dir)), bundle_(std::move(bundle)), device_(device) {}

std::shared_ptr<LoadedBundle> LoadedBundle::get(const std::string& model, const std::string& device) {
  const std::string dir = fs::weakly_canonical(locate_bundle(model)).string();
  const c10::Device dev = parse_device(device);
  static std::mutex registry_mutex;
  static std::map<std::pair<std::string, std::string>, std::weak_ptr<LoadedBundle>> registry;
  std::lock_guard<std::mutex> lock(registry_mutex);
  const auto key = std::make_pair(dir, dev.str());
  if (auto existing = registry[key].lock()) return existing;
  auto loaded = std::make_shared<LoadedBundle>(dir, models::verify_bundle(dir), dev);
  registry[key] = loaded;
  return loaded;
}

template <typename Net, typename Make>
Net LoadedBundle::load(Net& slot, const std::string& module, Make make) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (slot) return slot;
  if (!bundle_.has_module(module))
    throw Error("model bundle '" + bundle_.name + "' (" + dir_ + ") has no '" + module + "' network");
  Net net = make(bundle_.architecture.at(module));
  models::load_bundle_module(dir_, bundle_, module, *net);
  net->eval();
  net->to(device_);
  slot = net;
  return slot;
}

nn::ExpNet LoadedBundle::expnet() {
  return load(expnet_, "expnet", [](const nlohmann::json& j) { return nn::ExpNet(nn::ExpNetConfig::from_json(j)); });
}

nn::PoseVAE LoadedBundle::pose_vae() {
  return load(pose_vae_, "pose_vae", [](const nlohmann::json& j) {
    nn::PoseVAEConfig cfg = nn::PoseVAEConfig::from_json(j);
    cfg.training_parts = j.value("training_parts", true);
    return nn::PoseVAE(cfg);
  });
}

nn::MappingNet LoadedBundle::mapping() {
  return load(mapping_, "mapping",
              [](const nlohmann::json& j) { return nn::MappingNet(nn::MappingNetConfig::from_json(j)); });
}

nn::MappingNet LoadedBundle::mapping_full() {
  return load(mapping_full_, "mapping_full",
              [](const nlohmann::json& j) { return nn::MappingNet(nn::MappingNetConfig::from_json(j)); });
}

nn::KPDetector LoadedBundle::kp_detector() {
  return load(kp_detector_, "kp_detector",
              [](const nlohmann::json& j) { return nn::KPDetector(nn::KPDetectorConfig::from_json(j)); });
}

nn::OcclusionAwareSpadeGenerator LoadedBundle::generator() {
  return load(generator_, "generator", [](const nlohmann::json& j) {
    return nn::OcclusionAwareSpadeGenerator(nn::SpadeGeneratorConfig::from_json(j));
  });
}

nn::ReconNet LoadedBundle::recon() {
  return load(recon_, "recon", [](const nlohmann::json& j) { return nn::ReconNet(nn::ReconNetConfig::from_json(j)); });
}

nn::CorrelationAudioEncoder LoadedBundle::correlation_audio() {
  return load(correlation_audio_, "correlation_audio", [](const nlohmann::json& j) {
    return nn::CorrelationAudioEncoder(nn::CorrelationAudioEncoderConfig::from_json(j));
  });
}

nn::SyncNet LoadedBundle::syncnet() {
  return load(syncnet_, "syncnet", [](const nlohmann::json& j) { return nn::SyncNet(nn::SyncNetConfig::from_json(j)); });
}

lite::AudioNet LoadedBundle::lite_audio_net() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!lite_audio_net_) lite_audio_net_ = lite::load_audio_net(dir_, bundle_);  // CPU: it is tiny
  return lite_audio_net_;
}

std::shared_ptr<const lite::MotionSpace> LoadedBundle::lite_motion_space() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!lite_space_) lite_space_ = std::make_shared<const lite::MotionSpace>(lite::load_motion_space(dir_, bundle_));
  return lite_space_;
}

int LoadedBundle::image_size() const {
  // The official renderer is 256x256; a bundle says otherwise with
  // architecture.generator.image_size (the reduced golden models are 128).
  if (bundle_.has_module("generator")) return bundle_.architecture.at("generator").value("image_size", 256);
  return 256;
}

void LoadedBundle::require_recon() const {
  if (!bundle_.has_module("recon"))
    throw Error("model bundle '" + bundle_.name + "' has no face reconstruction network ('recon') to "
                "read the portrait's 3DMM coefficients: set source-coeffs=FILE or use a bundle with 'recon'");
}

std::vector<float> LoadedBundle::portrait_coefficients(const face::PreparedSource& portrait) {
  require_recon();
  const std::string key = portrait.content_hash + "/" + face::to_string(portrait.preprocess) + "/" +
                          std::to_string(portrait.size);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    const auto it = portrait_coefficients_.find(key);
    if (it != portrait_coefficients_.end()) return it->second;
  }
  nn::ReconNet net = recon();
  c10::InferenceMode guard;
  const at::Tensor c = face::source_coeff_3dmm(*net, portrait).to(at::kFloat).contiguous();
  std::vector<float> row(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
  std::lock_guard<std::mutex> lock(mutex_);
  if (portrait_coefficients_.size() >= 16) portrait_coefficients_.clear();  // a bound, not an LRU
  portrait_coefficients_[key] = row;
  return row;
}

std::vector<float> read_coeff_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("cannot open the coefficient file '" + path + "'");
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t n = bytes.size() / sizeof(float);
  size_t dims = 0;
  if (bytes.size() % sizeof(float) == 0) {
    if (n % 73 == 0 && n > 0) dims = 73;
    else if (n % 70 == 0 && n > 0) dims = 70;
  }
  if (!dims)
    throw Error("coefficient file '" + path + "' holds " + std::to_string(bytes.size()) +
                " bytes: expected rows of 70 or 73 little-endian float32 values (np.float32 array .tofile())");
  std::vector<float> row(dims);
  for (size_t k = 0; k < dims; ++k) {
    uint32_t u = 0;
    for (int b = 3; b >= 0; --b) u = (u << 8) | static_cast<uint8_t>(bytes[4 * k + b]);
    std::memcpy(&row[k], &u, 4);
  }
  return row;
}

}  // namespace tavce::pipeline
