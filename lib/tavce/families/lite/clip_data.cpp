#include "tavce/families/lite/clip_data.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>

#include "tavce/error.h"
#include "tavce/io/safetensors.h"

namespace fs = std::filesystem;

namespace tavce::lite {

bool ClipData::has_face(int64_t t) const {
  const float* p = landmarks.data() + t * kLandmarks * 2;
  for (int i = 0; i < kLandmarks * 2; ++i)
    if (!std::isfinite(p[i])) return false;
  return true;
}

Points ClipData::points(int64_t t) const {
  Points out(kLandmarks);
  const float* p = landmarks.data() + t * kLandmarks * 2;
  for (int i = 0; i < kLandmarks; ++i) out[i] = {p[2 * i], p[2 * i + 1]};
  return out;
}

void save_clip(const std::string& path, const ClipData& c) {
  if (c.landmarks.size() % (kLandmarks * 2) != 0 || c.mel.size() % 80 != 0)
    throw Error("lite clip '" + c.name + "': landmark or mel sizes are not whole frames");
  std::map<std::string, std::string> meta = c.extra;
  meta["format"] = kClipFormat;
  meta["name"] = c.name;
  meta["source"] = c.source;
  meta["width"] = std::to_string(c.width);
  meta["height"] = std::to_string(c.height);
  meta["fps"] = std::to_string(c.fps);
  meta["frames"] = std::to_string(c.frames());
  fs::create_directories(fs::path(path).parent_path());
  io::write_safetensors(path,
                        {{"landmarks", io::DType::F32, {c.frames(), kLandmarks, 2}, c.landmarks.data(),
                          c.landmarks.size() * sizeof(float)},
                         {"mel", io::DType::F32, {c.mel_frames(), 80}, c.mel.data(), c.mel.size() * sizeof(float)}},
                        meta);
}

ClipData load_clip(const std::string& path) {
  const io::SafeTensors f = io::SafeTensors::open(path);
  const auto& meta = f.metadata();
  auto get = [&](const char* key) -> std::string {
    const auto it = meta.find(key);
    return it == meta.end() ? std::string() : it->second;
  };
  if (get("format") != kClipFormat)
    throw Error(path + ": not a lite clip (metadata format is '" + get("format") + "', expected " + kClipFormat +
                "); extract it with pipelines/extract-dataset.sh");
  const io::TensorView& lm = f.at("landmarks");
  const io::TensorView& mel = f.at("mel");
  if (lm.dtype != io::DType::F32 || lm.shape.size() != 3 || lm.shape[1] != kLandmarks || lm.shape[2] != 2 ||
      mel.dtype != io::DType::F32 || mel.shape.size() != 2 || mel.shape[1] != 80)
    throw Error(path + ": landmarks must be F32 (T, 68, 2) and mel F32 (M, 80)");
  ClipData c;
  c.name = get("name").empty() ? fs::path(path).stem().string() : get("name");
  c.source = get("source");
  try {
    c.width = std::stoi(get("width"));
    c.height = std::stoi(get("height"));
    c.fps = std::stod(get("fps"));
  } catch (const std::exception&) {
    throw Error(path + ": metadata width/height/fps missing or not numbers");
  }
  c.landmarks.resize(lm.nbytes / sizeof(float));
  std::memcpy(c.landmarks.data(), lm.data, lm.nbytes);
  c.mel.resize(mel.nbytes / sizeof(float));
  std::memcpy(c.mel.data(), mel.data, mel.nbytes);
  for (const auto& [k, v] : meta)
    if (k != "format" && k != "name" && k != "source" && k != "width" && k != "height" && k != "fps" && k != "frames")
      c.extra[k] = v;
  return c;
}

std::vector<ClipData> load_clips(const std::string& dir) {
  if (!fs::is_directory(dir)) throw Error("lite dataset '" + dir + "' is not a directory");
  std::vector<std::string> paths;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file() && e.path().extension() == ".safetensors") paths.push_back(e.path().string());
  std::sort(paths.begin(), paths.end());
  std::vector<ClipData> clips;
  for (const auto& p : paths) clips.push_back(load_clip(p));
  if (clips.empty()) throw Error("no lite clips (*.safetensors) under '" + dir + "'");
  return clips;
}

}  // namespace tavce::lite
