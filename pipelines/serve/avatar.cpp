#include "avatar.h"

#include <gst/app/gstappsrc.h>
#include <gst/video/video.h>

#include <chrono>
#include <cstdio>

namespace {

constexpr int kChunkSamples = SpeechQueue::kRate / 50;  // 20 ms
constexpr GstClockTime kChunkDuration = GST_SECOND / 50;

// The avatar's elements; paths and bundle names are set as properties (no
// quoting in a launch line).
std::string launch_line(unsigned budget_ms) {
  const std::string min_latency = std::to_string(kChunkDuration + budget_ms * GST_MSECOND);
  return
      // Paced live source: chunk [T, T+20 ms) is pushed at T+20 ms, and the
      // budget covers the rendering and encoding time the look-ahead does not.
      "appsrc name=speech is-live=true format=time block=false max-bytes=192000 min-latency=" + min_latency +
      " caps=audio/x-raw,format=S16LE,rate=48000,channels=1,layout=interleaved"
      " ! tee name=speech_tee"
      " speech_tee. ! queue max-size-time=500000000 max-size-buffers=0 max-size-bytes=0"
      " ! audioresample ! audio/x-raw,rate=16000,channels=1 ! tavcemelspec"
      " ! tavceaudio2coeff name=a2c ! tavcerenderer name=renderer"
      " ! videoconvert ! video/x-raw,format=I420"
      " ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=50 bitrate=800 threads=1"
      " ! video/x-h264,profile=constrained-baseline ! h264parse config-interval=-1"
      " ! video/x-h264,stream-format=byte-stream,alignment=au ! tee name=video_tee allow-not-linked=true"
      " video_tee. ! queue leaky=downstream max-size-buffers=25 max-size-time=0 max-size-bytes=0"
      " ! fakesink name=video_clock sync=true async=false qos=false"
      " speech_tee. ! queue max-size-time=500000000 max-size-buffers=0 max-size-bytes=0"
      " ! opusenc frame-size=20 bitrate=48000 ! audio/x-opus,rate=48000,channels=1"
      " ! tee name=audio_tee allow-not-linked=true"
      " audio_tee. ! queue leaky=downstream max-size-buffers=50 max-size-time=0 max-size-bytes=0"
      " ! fakesink name=audio_clock sync=true async=false qos=false";
}


}  // namespace

const char* Avatar::state_name(State s) {
  switch (s) {
    case State::stopped: return "stopped";
    case State::starting: return "starting";
    case State::running: return "running";
    case State::restarting: return "restarting";
    case State::failed: return "failed";
  }
  return "?";
}

Avatar::Avatar(AvatarConfig config, const ServeConfig& global)
    : config_(std::move(config)), global_(global), queue_(global.max_queue_seconds), portrait_(config_.portrait) {}

Avatar::~Avatar() { stop(); }

std::string Avatar::portrait() const {
  std::lock_guard<std::mutex> lock(mu_);
  return portrait_;
}

std::string Avatar::last_error() const {
  std::lock_guard<std::mutex> lock(mu_);
  return last_error_;
}

bool Avatar::build(std::string& error) {
  GError* err = nullptr;
  GstElement* pipe = gst_parse_launch_full(launch_line(global_.latency_budget_ms).c_str(), nullptr,
                                           GST_PARSE_FLAG_FATAL_ERRORS, &err);
  if (!pipe) {
    error = std::string("cannot build the pipeline: ") + (err ? err->message : "unknown error") +
            " (are the tavce plugin, x264enc and opusenc installed? GST_PLUGIN_PATH=build/gst)";
    if (err) g_error_free(err);
    return false;
  }
  pipeline_ = pipe;
  gst_object_ref_sink(pipeline_);
  // Audio is the clock, and every output (RTSP media, WebRTC) shares the system clock.
  GstClock* clock = gst_system_clock_obtain();
  gst_pipeline_use_clock(GST_PIPELINE(pipeline_), clock);
  gst_object_unref(clock);
  gst_element_set_name(pipeline_, ("avatar-" + config_.name).c_str());

  source_ = gst_bin_get_by_name(GST_BIN(pipeline_), "speech");
  renderer_ = gst_bin_get_by_name(GST_BIN(pipeline_), "renderer");
  video_tee_ = gst_bin_get_by_name(GST_BIN(pipeline_), "video_tee");
  audio_tee_ = gst_bin_get_by_name(GST_BIN(pipeline_), "audio_tee");
  GstElement* a2c = gst_bin_get_by_name(GST_BIN(pipeline_), "a2c");
  const std::string portrait = this->portrait();
  for (GstElement* e : {a2c, renderer_}) {
    g_object_set(e, "source-image", portrait.c_str(), nullptr);
    if (!config_.bundle.empty()) g_object_set(e, "model", config_.bundle.c_str(), nullptr);
  }
  gst_object_unref(a2c);

  GstPad* pad = gst_element_get_static_pad(renderer_, "src");
  gst_pad_add_probe(pad, GST_PAD_PROBE_TYPE_BUFFER, &Avatar::on_frame, this, nullptr);
  gst_object_unref(pad);

  GstBus* bus = gst_pipeline_get_bus(GST_PIPELINE(pipeline_));
  bus_watch_ = gst_bus_add_watch(bus, &Avatar::on_bus, this);
  gst_object_unref(bus);
  return true;
}

void Avatar::teardown() {
  for (auto& [id, l] : std::map<int, Listener>(listeners_)) l(Event::tearing_down);
  pacing_ = false;
  if (pacer_.joinable()) pacer_.join();
  if (pipeline_) gst_element_set_state(pipeline_, GST_STATE_NULL);
  if (bus_watch_) g_source_remove(bus_watch_);
  bus_watch_ = 0;
  for (GstElement** e : {&source_, &renderer_, &video_tee_, &audio_tee_})
    if (*e) gst_object_unref(*e), *e = nullptr;
  if (pipeline_) gst_object_unref(pipeline_);
  pipeline_ = nullptr;
}

bool Avatar::start(std::string& error, unsigned timeout_ms) {
  state_ = State::starting;
  {
    std::lock_guard<std::mutex> lock(mu_);
    last_error_.clear();
  }
  if (!build(error)) {
    error = "avatar '" + config_.name + "': " + error;
    state_ = State::failed;
    return false;
  }
  const uint64_t frames_before = frames_.load();
  if (gst_element_set_state(pipeline_, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE) {
    // The element error (no face, no bundle...) is on the bus: read it below.
  }
  pacing_ = true;
  pacer_ = std::thread(&Avatar::pace, this);

  const gint64 deadline = g_get_monotonic_time() + static_cast<gint64>(timeout_ms) * 1000;
  while (frames_.load() == frames_before && g_get_monotonic_time() < deadline) {
    if (!last_error().empty()) break;
    g_main_context_iteration(nullptr, FALSE);
    g_usleep(2000);
  }
  const std::string why = last_error();
  if (frames_.load() == frames_before) {
    error = "avatar '" + config_.name + "' (portrait " + portrait() + ", bundle " +
            (config_.bundle.empty() ? std::string("default") : config_.bundle) + ") did not start: " +
            (why.empty() ? "no frame within " + std::to_string(timeout_ms / 1000) + " s" : why);
    teardown();
    state_ = State::failed;
    return false;
  }
  GstQuery* q = gst_query_new_latency();
  if (gst_element_query(pipeline_, q)) {
    gboolean live;
    GstClockTime min, max;
    gst_query_parse_latency(q, &live, &min, &max);
    latency_ = min;
  }
  gst_query_unref(q);
  // Fixed from now on: a viewer branch joining must not move every sink's deadline.
  gst_pipeline_set_latency(GST_PIPELINE(pipeline_), latency_);
  state_ = State::running;
  g_print("avatar %s: running, latency %.0f ms\n", config_.name.c_str(), latency_ / 1e6);
  return true;
}

void Avatar::stop() {
  if (pipeline_) teardown();
  state_ = State::stopped;
}

void Avatar::pace() {
  // Wait for PLAYING: the base time is only meaningful from then on.
  GstClockTime base = GST_CLOCK_TIME_NONE;
  while (pacing_) {
    GstState cur = GST_STATE_NULL;
    gst_element_get_state(pipeline_, &cur, nullptr, 0);
    if (cur == GST_STATE_PLAYING) {
      base = gst_element_get_base_time(pipeline_);
      break;
    }
    g_usleep(2000);
  }
  if (!pacing_) return;
  GstClock* clock = gst_element_get_clock(pipeline_);
  if (!clock) return;
  GstClockTime next = 0;
  bool discont = true;
  std::vector<int16_t> chunk(kChunkSamples);
  while (pacing_) {
    GstClockID id = gst_clock_new_single_shot_id(clock, base + next + kChunkDuration);
    GstClockTimeDiff jitter = 0;
    gst_clock_id_wait(id, &jitter);
    gst_clock_id_unref(id);
    if (!pacing_) break;
    if (jitter > static_cast<GstClockTimeDiff>(GST_SECOND)) {
      // Starved for over a second (machine overloaded): resume at the clock's
      // present instead of bursting the backlog out, and mark the gap.
      const GstClockTime now = gst_clock_get_time(clock) - base;
      next = now - now % kChunkDuration;
      discont = true;
      g_printerr("avatar %s: the speech source was %.1f s late; skipped ahead\n", config_.name.c_str(), jitter / 1e9);
    }
    const size_t speech = queue_.pop(chunk.data(), chunk.size(), next);
    speaking_ = speech > 0;
    speech_samples_played_ += speech;
    GstBuffer* buf = gst_buffer_new_memdup(chunk.data(), chunk.size() * sizeof(int16_t));
    GST_BUFFER_PTS(buf) = next;
    GST_BUFFER_DURATION(buf) = kChunkDuration;
    GST_BUFFER_OFFSET(buf) = next / kChunkDuration * kChunkSamples;
    if (discont) GST_BUFFER_FLAG_SET(buf, GST_BUFFER_FLAG_DISCONT);
    discont = false;
    if (gst_app_src_push_buffer(GST_APP_SRC(source_), buf) != GST_FLOW_OK && pacing_) {
      // Flushing or errored: the bus watch handles it; keep the clock running.
    }
    next += kChunkDuration;
  }
  gst_object_unref(clock);
}

GstPadProbeReturn Avatar::on_frame(GstPad*, GstPadProbeInfo*, gpointer data) {
  auto* self = static_cast<Avatar*>(data);
  self->frames_.fetch_add(1);
  // The wall-clock interval between rendered frames, once running: a stall of
  // the render (CPU starvation, a slow portrait switch) shows here first.
  const gint64 now = g_get_monotonic_time();
  const gint64 last = self->last_frame_us_.exchange(now);
  if (self->state_ == State::running && last > 0) {
    const gint64 gap = now - last;
    gint64 seen = self->max_frame_interval_us_.load();
    while (gap > seen && !self->max_frame_interval_us_.compare_exchange_weak(seen, gap)) {
    }
  }
  return GST_PAD_PROBE_OK;
}

void Avatar::set_portrait(const std::string& path) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    portrait_ = path;
  }
  // tavcerenderer switches identity at its next frame (the property may change while playing).
  if (renderer_) g_object_set(renderer_, "source-image", path.c_str(), nullptr);
}

void Avatar::request_key_frame() {
  if (!video_tee_) return;
  GstPad* sink = gst_element_get_static_pad(video_tee_, "sink");
  // Pushed from the tee's sink pad to its peer: h264parse passes it on to x264enc.
  gst_pad_push_event(sink, gst_video_event_new_upstream_force_key_unit(GST_CLOCK_TIME_NONE, TRUE, 0));
  gst_object_unref(sink);
}

gboolean Avatar::on_bus(GstBus*, GstMessage* msg, gpointer data) {
  auto* self = static_cast<Avatar*>(data);
  switch (GST_MESSAGE_TYPE(msg)) {
    case GST_MESSAGE_ERROR: {
      GError* err = nullptr;
      gchar* dbg = nullptr;
      gst_message_parse_error(msg, &err, &dbg);
      std::string text = std::string(GST_OBJECT_NAME(GST_MESSAGE_SRC(msg))) + ": " + err->message;
      g_printerr("avatar %s: error from %s\n", self->config_.name.c_str(), text.c_str());
      if (dbg) g_printerr("  (%s)\n", dbg);
      g_error_free(err);
      g_free(dbg);
      self->on_error(text);
      break;
    }
    case GST_MESSAGE_WARNING: {
      GError* err = nullptr;
      gst_message_parse_warning(msg, &err, nullptr);
      g_printerr("avatar %s: warning from %s: %s\n", self->config_.name.c_str(), GST_OBJECT_NAME(GST_MESSAGE_SRC(msg)),
                 err->message);
      g_error_free(err);
      break;
    }
    case GST_MESSAGE_LATENCY:
      // A branch joined or left: hand the (fixed) latency to its sinks.
      if (self->pipeline_) gst_bin_recalculate_latency(GST_BIN(self->pipeline_));
      break;
    default:
      break;
  }
  return G_SOURCE_CONTINUE;
}

void Avatar::on_error(const std::string& message) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    last_error_ = message;
  }
  if (state_ != State::running || restart_pending_) return;  // start() reports it, or a restart is on its way
  if (restarts_ >= global_.max_restarts) {
    g_printerr("avatar %s: failed after %d restarts; the other avatars go on\n", config_.name.c_str(), restarts_);
    restart_pending_ = true;  // nothing more to do
    state_ = State::failed;
    g_idle_add(
        [](gpointer p) -> gboolean {
          auto* self = static_cast<Avatar*>(p);
          self->teardown();
          return G_SOURCE_REMOVE;
        },
        this);
    return;
  }
  restart_pending_ = true;
  state_ = State::restarting;
  g_idle_add(&Avatar::restart_cb, this);
}

bool Avatar::request_restart(const std::string& why) {
  if (state_ != State::running || restart_pending_) return false;
  g_print("avatar %s: restart requested (%s)\n", config_.name.c_str(), why.c_str());
  restart_pending_ = true;
  state_ = State::restarting;
  g_idle_add(&Avatar::restart_cb, this);
  return true;
}

gboolean Avatar::restart_cb(gpointer data) {
  auto* self = static_cast<Avatar*>(data);
  self->restarts_++;
  g_printerr("avatar %s: restarting (%d of %d)\n", self->config_.name.c_str(), self->restarts_,
             self->global_.max_restarts);
  self->teardown();
  self->restart_pending_ = false;
  std::string error;
  if (!self->start(error, 30000)) {
    g_printerr("%s; marked failed\n", error.c_str());
    self->state_ = State::failed;
    return G_SOURCE_REMOVE;
  }
  for (auto& [id, l] : std::map<int, Listener>(self->listeners_)) l(Event::rebuilt);
  return G_SOURCE_REMOVE;
}

int Avatar::add_listener(Listener l) {
  const int id = next_listener_++;
  listeners_[id] = std::move(l);
  return id;
}

void Avatar::remove_listener(int id) { listeners_.erase(id); }

void Avatar::tick(double seconds) {
  const uint64_t now = frames_.load();
  if (seconds > 0) fps_ = static_cast<double>(now - frames_at_tick_) / seconds;
  frames_at_tick_ = now;
}

AvatarSet::~AvatarSet() { stop_all(); }

Avatar* AvatarSet::find(const std::string& name) {
  for (auto& a : avatars_)
    if (a->name() == name) return a.get();
  return nullptr;
}

void AvatarSet::start_ticking() {
  last_tick_us_ = g_get_monotonic_time();
  tick_source_ = g_timeout_add(
      1000,
      [](gpointer p) -> gboolean {
        auto* self = static_cast<AvatarSet*>(p);
        const gint64 now = g_get_monotonic_time();
        const double dt = (now - self->last_tick_us_) / 1e6;
        self->last_tick_us_ = now;
        for (auto& a : self->avatars_) a->tick(dt);
        return G_SOURCE_CONTINUE;
      },
      this);
}

void AvatarSet::stop_all() {
  if (tick_source_) g_source_remove(tick_source_);
  tick_source_ = 0;
  for (auto& a : avatars_) a->stop();
}
