// The rendering stage as the tavcerenderer element drives it: one row of
// coefficients per video frame in, RGB frames out. SadTalker/TAVCE bundles
// render a frame as soon as its 27-frame coefficient window (radius 13,
// edge-clamped) is complete; lite bundles (families/lite/) render each row
// at once.
//
// Free of LibTorch and GStreamer, like audio2coeff_session.h. Construction
// loads the bundle's renderer networks on the chosen device; a portrait is
// prepared once per identity (cached by content) and can change between
// frames. Every failure is a tavce::Error a user can act on.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace tavce::pipeline {

// Packed 8-bit RGB, rows of width * 3 bytes.
struct RgbImage {
  int width = 0, height = 0;
  std::vector<uint8_t> pixels;
};

struct RendererSettings {
  std::string model;                // bundle directory or name; empty = the default bundle
  std::string device = "auto";      // auto | cpu | cuda | cuda:N
  std::string precision = "fp32";   // fp32; fp16 / bf16 on CUDA only
  int batch_size = 1;               // frames rendered together (adds batch_size - 1 frames of latency)
  std::string preprocess = "crop";  // crop | extcrop | resize | full | extfull
  double expression_scale = 1.0;    // scales the driving expression, not the source's
  bool still = false;               // keep the source head pose
  std::string source_coeffs;        // raw float32 file with 70/73 source coefficients (instead of the recon net)
  int threads = 0;                  // intra-op threads; 0 = the cores this process may use
  // Head-pose overrides (SadTalker --input_yaw/--input_pitch/--input_roll):
  // degree lists replacing MappingNet's angle for every frame. Empty = the
  // network's own pose. One value: that angle for every frame. Several: the
  // angle of frame i is coeffs::camera_pose_sequence(list, camera_frames)[i]
  // (SadTalker's gen_camera_pose interpolation over the clip; frames past
  // camera_frames keep the last value), so camera_frames (the clip length in
  // video frames) must then be > 0, else the session throws tavce::Error.
  std::vector<double> yaw, pitch, roll;
  int64_t camera_frames = 0;
};

struct RenderedFrame {
  int64_t index = 0;  // frame number in the run (0 = the first coefficient row pushed)
  RgbImage image;
};

class RendererSession {
 public:
  explicit RendererSession(const RendererSettings& settings);
  ~RendererSession();
  RendererSession(const RendererSession&) = delete;
  RendererSession& operator=(const RendererSession&) = delete;

  int coeff_dims() const;           // floats per input row the model takes (70, 73, or 70+128 with CERL)
  std::string coeff_space() const;  // model.json coefficient_space
  int64_t latency_frames() const;   // look-ahead: window radius + batch_size - 1

  // The identity to animate. `label` names it in messages (file name, pad).
  void set_portrait_file(const std::string& path);
  void set_portrait(const RgbImage& image, const std::string& label);
  bool has_portrait() const;
  // Size of the frames produced for the current identity: the model size, or
  // the portrait's size in full / extfull mode (paste-back).
  int output_width() const;
  int output_height() const;

  // Appends one coefficient row (coeff_dims() floats).
  void push(const float* row, int64_t dims);
  // Renders the frames whose window is complete, in order. `wanted(index)`
  // returning false skips a frame without rendering it (QoS).
  std::vector<RenderedFrame> pop_ready(const std::function<bool(int64_t)>& wanted = {});
  // End of the run: the last frames use end-clamped windows.
  void finish();
  // Forget the run (flush); the identity stays.
  void reset();

  // Things a user should know about the current portrait that do not stop
  // rendering (a profile face, a face at the picture's edge); each is
  // returned once.
  std::vector<std::string> take_warnings();

 private:
  struct Impl;      // SadTalker / TAVCE bundles
  struct LiteImpl;  // lite bundles
  std::unique_ptr<Impl> impl_;
  std::unique_ptr<LiteImpl> lite_;
};

}  // namespace tavce::pipeline
