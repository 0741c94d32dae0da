// One live avatar: a single always-running pipeline that turns the avatar's
// speech queue into H.264 video and Opus audio, however many viewers watch.
//
//   appsrc "speech" (paced: 20 ms of queued speech or silence per 20 ms of clock)
//     ! tee ─ queue ! audioresample ! 16 kHz mono ! tavcemelspec ! tavceaudio2coeff
//            !  tavcerenderer ! videoconvert ! x264enc (zerolatency) ! h264parse ! video tee
//          └ queue ! opusenc ! audio tee
//
// Audio is the clock: the speech source stamps its chunks with their sample
// position, the elements derive every video frame's time from it, and both
// tees carry one timeline. Each tee always feeds a synchronised fakesink, so
// the pipeline runs in real time, with the latency the LATENCY query reports
// (look-ahead + --latency-budget), whether or not anyone watches. A viewer is
// a branch on the tees starting with `queue leaky=downstream` (TeeBranch in
// tee_branch.h, or the WebRTC viewers), so a stalled viewer only drops its own
// data. The models are loaded once per bundle for the whole process by the
// elements themselves; what belongs to this avatar (run state, portrait) lives
// in its elements.
//
// Threads: the public calls are made on the main context, except speech(),
// set_portrait() and the counters, which any thread may use. Pipeline errors
// arrive on the main context (bus watch): the pipeline is rebuilt up to
// --max-restarts times, listeners hear about it, and then the avatar is
// marked failed; other avatars are never touched.
#pragma once

#include <gst/gst.h>

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "config.h"
#include "speech_queue.h"

class Avatar {
 public:
  enum class State { stopped, starting, running, restarting, failed };
  enum class Event { tearing_down, rebuilt };
  using Listener = std::function<void(Event)>;

  Avatar(AvatarConfig config, const ServeConfig& global);
  ~Avatar();
  Avatar(const Avatar&) = delete;
  Avatar& operator=(const Avatar&) = delete;

  // Builds the pipeline, plays it and waits (iterating the default main
  // context) until the first frame is rendered. On failure returns false with
  // a message that names the avatar.
  bool start(std::string& error, unsigned timeout_ms = 60000);
  void stop();

  GstElement* pipeline() const { return pipeline_; }
  GstElement* video_tee() const { return video_tee_; }  // H.264 byte-stream AU, constrained-baseline
  GstElement* audio_tee() const { return audio_tee_; }  // Opus, 48 kHz mono
  const std::string& name() const { return config_.name; }
  const AvatarConfig& config() const { return config_; }
  State state() const { return state_; }
  static const char* state_name(State s);

  SpeechQueue& speech() { return queue_; }
  // Switches the identity from the next frame on. `path` must be a portrait
  // the bundle accepts (see portrait_check.h): a failure here would stop the
  // avatar until its restart.
  void set_portrait(const std::string& path);
  std::string portrait() const;

  // The pipeline's latency (what a synchronised sink adds to a running time).
  GstClockTime latency() const { return latency_; }
  // Rebuilds the pipeline as after an error (POST /avatars/NAME/restart).
  // False when the avatar is not running.
  bool request_restart(const std::string& why);
  // Asks the encoder for a key frame now (a viewer joined).
  void request_key_frame();

  uint64_t frames_rendered() const { return frames_.load(); }
  // Longest wall-clock interval between two rendered frames while running (ms).
  double max_frame_interval_ms() const { return max_frame_interval_us_.load() / 1000.0; }
  double recent_fps() const { return fps_.load(); }
  uint64_t speech_seconds_played() const { return speech_samples_played_.load() / SpeechQueue::kRate; }
  bool speaking() const { return speaking_.load(); }
  int restarts() const { return restarts_; }
  std::string last_error() const;
  std::atomic<int>& viewers() { return viewers_; }

  // Hears tearing_down just before a restart destroys the tees, and rebuilt
  // once the new pipeline plays (main context). Returns an id for removal.
  int add_listener(Listener l);
  void remove_listener(int id);

  // Called once a second by AvatarSet to update recent_fps().
  void tick(double seconds);

 private:
  bool build(std::string& error);
  void teardown();
  void pace();  // the speech source's thread
  static gboolean on_bus(GstBus*, GstMessage* msg, gpointer self);
  static GstPadProbeReturn on_frame(GstPad*, GstPadProbeInfo*, gpointer self);
  void on_error(const std::string& message);
  static gboolean restart_cb(gpointer self);

  AvatarConfig config_;
  const ServeConfig& global_;
  SpeechQueue queue_;
  mutable std::mutex mu_;  // portrait_, last_error_
  std::string portrait_;
  std::string last_error_;

  GstElement* pipeline_ = nullptr;
  GstElement* source_ = nullptr;
  GstElement* renderer_ = nullptr;
  GstElement* video_tee_ = nullptr;
  GstElement* audio_tee_ = nullptr;
  guint bus_watch_ = 0;
  GstClockTime latency_ = 0;
  std::atomic<State> state_{State::stopped};
  int restarts_ = 0;
  bool restart_pending_ = false;

  std::thread pacer_;
  std::atomic<bool> pacing_{false};

  std::atomic<uint64_t> frames_{0};
  std::atomic<gint64> last_frame_us_{0};
  std::atomic<gint64> max_frame_interval_us_{0};
  uint64_t frames_at_tick_ = 0;
  std::atomic<double> fps_{0.0};
  std::atomic<uint64_t> speech_samples_played_{0};
  std::atomic<bool> speaking_{false};
  std::atomic<int> viewers_{0};

  std::map<int, Listener> listeners_;
  int next_listener_ = 1;
};

class AvatarSet {
 public:
  AvatarSet() = default;
  ~AvatarSet();
  void add(std::unique_ptr<Avatar> a) { avatars_.push_back(std::move(a)); }
  Avatar* find(const std::string& name);
  const std::vector<std::unique_ptr<Avatar>>& all() const { return avatars_; }
  // Starts the once-a-second fps update on the default main context.
  void start_ticking();
  void stop_all();

 private:
  std::vector<std::unique_ptr<Avatar>> avatars_;
  guint tick_source_ = 0;
  gint64 last_tick_us_ = 0;
};
