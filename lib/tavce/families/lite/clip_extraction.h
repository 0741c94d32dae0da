// The decisions of lite dataset extraction that are not streaming: which
// clips are skipped and why, how the per-window SyncNet offsets become one
// offset per clip, how the mel is lined up with the first video frame, what
// the face boxes are summarised to, and the clip's manifest entry.
// tavcedatasetsink (gst/) collects the streams and calls these; they live
// here so that they are tested without GStreamer. Torch- and GStreamer-free.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "tavce/families/lite/clip_data.h"

namespace tavce::lite {

// Metadata keys written by the extraction (docs/dataset.md). The offset keys
// are read by the trainer; their names and sign are part of the format.
inline constexpr const char* kAvOffsetFrames = "av_offset_frames";    // int, GstTavceSyncMeta.offset sign
inline constexpr const char* kAvOffsetWindows = "av_offset_windows";  // int, scored windows behind it
inline constexpr const char* kAvLseC = "av_lse_c";                    // mean LSE-C of those windows

// One tavcesyncscore window.
struct SyncWindowScore {
  bool scored = false;
  int offset = 0;     // frames, > 0 when the audio leads the video (GstTavceSyncMeta.offset)
  double lse_c = 0;   // confidence of that offset
};

struct AvOffset {
  int frames = 0;     // median offset of the scored windows; 0 when none was scored
  int windows = 0;    // scored windows
  double lse_c = 0;   // their mean LSE-C; NaN when none
};

// Median of the scored windows' offsets. With an even count the two middle
// values are averaged and a half rounds toward zero: between 0 and 1 the clip
// is left unshifted rather than shifted on a coin toss.
AvOffset median_av_offset(const std::vector<SyncWindowScore>& windows);

// A face box in image pixels, (x0, y0) top left to (x1, y1) bottom right.
struct FaceBox {
  double x0 = 0, y0 = 0, x1 = 0, y1 = 0;
};

struct FaceBoxSummary {
  int64_t frames = 0;   // frames with a box
  FaceBox median;       // per-coordinate median over those frames
  FaceBox bounds;       // smallest box holding all of them
};
FaceBoxSummary summarize_face_boxes(const std::vector<std::optional<FaceBox>>& boxes);

struct SkipRule {
  int64_t min_frames = 10;    // fewer video frames: skipped
  double min_face = 0.8;      // a face in fewer than this fraction of frames: skipped
};
// Why a clip is not kept (empty: keep it). mel_frames 0 means it had no audio.
std::string skip_reason(int64_t frames, int64_t face_frames, int64_t mel_frames, const SkipRule& rule);

// Lines the mel up with video frame 0. `lead` = mel frames from the first
// video frame to the first mel frame (audio starting late: > 0; early: < 0).
// A late start is padded with `silence` frames (the normalised mel's floor),
// an early one trimmed. n_mels values per frame.
std::vector<float> align_mel(const std::vector<float>& mel, int64_t lead, int n_mels, float silence);

// Writes the extraction's keys into clip.extra: the offset (kAvOffset*),
// face_frames, face_box_median, face_box_bounds ("x0,y0,x1,y1" in pixels) and mel_frames.
void add_extraction_metadata(ClipData& clip, const AvOffset& offset, const FaceBoxSummary& boxes);

// The clip's manifest entry: one JSON object on one line (no newline), from
// its metadata (docs/dataset.md lists the fields). `file` is the clip file's
// path relative to the dataset root.
std::string manifest_entry(const ClipData& clip, const std::string& file);

// Writes text to path atomically (temporary name, then rename). Throws tavce::Error.
void write_file_atomic(const std::string& path, const std::string& text);

}  // namespace tavce::lite
