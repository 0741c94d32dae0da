// One talking-face clip as the lite family trains on it: 68 landmarks per
// 25 fps video frame (image pixels; NaN where no face was found) and the
// normalised 80-bin mel of its 16 kHz audio (tavcemelspec's front end).
// Stored as one safetensors file per clip (docs/dataset.md):
//   landmarks (T, 68, 2) F32, mel (M, 80) F32,
//   metadata: format "tavce-lite-clip-1", name, source, width, height, fps, frames,
//   and what the extraction adds (clip_extraction.h), among them
//   av_offset_frames: the clip's audio-visual offset measured by tavcesyncscore
//   (median over its scored windows), in 25 fps frames, with GstTavceSyncMeta's
//   sign: > 0 when the audio leads the video (the sound of frame t is heard
//   at frame t - offset); av_offset_windows (0: nothing was scored, the
//   offset is 0 by default) and av_lse_c (mean LSE-C of those windows).
// Torch- and GStreamer-free.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "tavce/families/lite/face_shape.h"

namespace tavce::lite {

inline constexpr const char* kClipFormat = "tavce-lite-clip-1";

struct ClipData {
  std::string name;    // "<set>/<stem>", e.g. "grid_s1/bbaf2n"
  std::string source;  // the file it was extracted from
  int width = 0, height = 0;
  double fps = 25.0;
  std::vector<float> landmarks;  // frames x 68 x 2
  std::vector<float> mel;        // mel_frames x 80
  std::map<std::string, std::string> extra;  // further metadata (offsets, versions)

  int64_t frames() const { return static_cast<int64_t>(landmarks.size() / (kLandmarks * 2)); }
  int64_t mel_frames() const { return static_cast<int64_t>(mel.size() / 80); }
  bool has_face(int64_t t) const;
  Points points(int64_t t) const;  // frame t's landmarks (check has_face first)
};

// Atomic write (temporary name, then rename). Throws tavce::Error.
void save_clip(const std::string& path, const ClipData& clip);
// Throws tavce::Error naming the file when it is not a lite clip or its shapes disagree.
ClipData load_clip(const std::string& path);
// Every *.safetensors clip under dir (recursively), sorted by name.
std::vector<ClipData> load_clips(const std::string& dir);

}  // namespace tavce::lite
