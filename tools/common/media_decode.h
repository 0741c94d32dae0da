// Decoding a talking-face file for the training and evaluation tools, the
// way the SyncNet metric reads it: video converted to packed BGR at 25 fps,
// audio down-mixed to mono 16 kHz at int16 scale. Any container and codec
// the installed GStreamer plugins decode.
//
// Frame-rate conversion follows the video timestamps (each 25 fps slot shows
// the latest source frame at its time, as ffmpeg -r 25 does; variable-rate
// phone clips need this), with one repair: a jump of more than 120 ms
// between consecutive frames shrinks to one frame. The GRID MPEG-1 files
// carry such a jump (0.2 to 0.7 s, in both streams) halfway through while their
// content is continuous, and a plain videorate would insert up to 17 frozen frames
// there and desync the rest of the clip. The audio, likewise, is the
// concatenation of its samples (after silence for a late start).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace tavce::tools {

struct BgrFrame {
  const uint8_t* data = nullptr;
  int width = 0, height = 0;
  size_t stride = 0;
};

// Calls on_frame for every video frame in order and returns the audio.
// Throws tavce::Error with GStreamer's message when the file cannot be
// decoded or has no video or no audio stream.
std::vector<float> decode_talking_face(const std::string& path, const std::function<void(const BgrFrame&)>& on_frame);

}  // namespace tavce::tools
