#include "tavce/train/sync_clip.h"

#include <algorithm>
#include <filesystem>
#include <map>

#include <ATen/ATen.h>

#include "tavce/audio/mfcc.h"
#include "tavce/error.h"
#include "tavce/io/safetensors.h"
#include "tavce/io/tensor_io.h"
#include "tavce/models/bundle_weights.h"

namespace fs = std::filesystem;

namespace tavce::train {

void compute_clip_mfcc(SyncClip& clip) {
  const at::Tensor a = clip.audio.to(at::kDouble).contiguous();
  const audio::MfccResult m = audio::compute_mfcc(a.data_ptr<double>(), static_cast<size_t>(a.numel()));
  const int64_t numcep = static_cast<int64_t>(m.mfcc.size()) / std::max<int64_t>(1, m.frames);
  at::Tensor out = at::empty({m.frames, numcep}, at::kFloat);
  float* o = out.data_ptr<float>();
  for (size_t i = 0; i < m.mfcc.size(); ++i) o[i] = static_cast<float>(m.mfcc[i]);
  clip.mfcc = out;
}

void save_sync_clip(const std::string& path, const SyncClip& clip) {
  models::save_tensors(path,
                       {{"crops", clip.crops.contiguous()},
                        {"has_face", clip.has_face.to(at::kByte).contiguous()},
                        {"audio", clip.audio.to(at::kFloat).contiguous()}},
                       {{"name", clip.name}, {"format", "tavce-sync-clip-1"}});
}

SyncClip load_sync_clip(const std::string& path) {
  const io::SafeTensors file = io::SafeTensors::open(path);
  std::map<std::string, at::Tensor> t = io::load_tensors(file);
  auto need = [&](const char* key) {
    if (!t.count(key)) throw Error(path + ": not a SyncNet clip cache (no '" + key + "' tensor); rerun tavce-train sync-data");
    return t.at(key);
  };
  SyncClip c;
  const auto& meta = file.metadata();
  c.name = meta.count("name") ? meta.at("name") : fs::path(path).stem().string();
  c.crops = need("crops");
  c.has_face = need("has_face").to(at::kBool);
  c.audio = need("audio").to(at::kFloat);
  if (c.crops.dim() != 4 || c.crops.size(3) != 3 || c.crops.scalar_type() != at::kByte ||
      c.has_face.dim() != 1 || c.has_face.size(0) != c.crops.size(0) || c.audio.dim() != 1)
    throw Error(path + ": unexpected tensor shapes in the SyncNet clip cache; rerun tavce-train sync-data");
  compute_clip_mfcc(c);
  return c;
}

std::vector<SyncClip> load_sync_clips(const std::string& dir) {
  if (!fs::is_directory(dir)) throw Error("clip cache '" + dir + "' is not a directory; run tavce-train sync-data first");
  std::vector<std::string> paths;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file() && e.path().extension() == ".safetensors") paths.push_back(e.path().string());
  std::vector<SyncClip> clips;
  for (const std::string& p : paths) clips.push_back(load_sync_clip(p));
  std::sort(clips.begin(), clips.end(), [](const SyncClip& a, const SyncClip& b) { return a.name < b.name; });
  if (clips.empty()) throw Error("no clips in '" + dir + "'; run tavce-train sync-data first");
  return clips;
}

std::vector<int> assign_folds(const std::vector<std::string>& names, int folds) {
  if (folds < 1) throw Error("folds must be at least 1");
  std::vector<size_t> order(names.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return names[a] < names[b]; });
  std::map<std::string, int> next;  // folder -> running index
  std::vector<int> fold(names.size(), 0);
  for (size_t i : order) {
    const std::string folder = names[i].substr(0, names[i].find('/'));
    fold[i] = next[folder]++ % folds;
  }
  return fold;
}

}  // namespace tavce::train
