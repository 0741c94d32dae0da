#include "rtsp_out.h"

#include <gst/app/gstappsrc.h>

#include <map>
#include <memory>
#include <mutex>
#include <set>

#include "sender_reports.h"
#include "tee_branch.h"

namespace {

const char* kMediaLaunch =
    "( appsrc name=vsrc ! rtph264pay name=pay0 pt=96 config-interval=-1 aggregate-mode=zero-latency"
    "  appsrc name=asrc ! rtpopuspay name=pay1 pt=97 )";

// One shared RTSP media of one avatar: two tee branches into its appsrcs.
class MediaBridge {
 public:
  MediaBridge(Avatar* avatar, GstRTSPMedia* media) : avatar_(avatar), media_(media) {
    GstElement* bin = gst_rtsp_media_get_element(media);
    vsrc_ = gst_bin_get_by_name(GST_BIN(bin), "vsrc");
    asrc_ = gst_bin_get_by_name(GST_BIN(bin), "asrc");
    // The media's running time is the system clock's time (see rtsp_out.h).
    GstElement* pipeline = GST_ELEMENT(gst_object_get_parent(GST_OBJECT(bin)));
    if (pipeline) {
      GstClock* clock = gst_system_clock_obtain();
      gst_pipeline_use_clock(GST_PIPELINE(pipeline), clock);
      gst_object_unref(clock);
      gst_element_set_start_time(pipeline, GST_CLOCK_TIME_NONE);
      gst_element_set_base_time(pipeline, 0);
      // The media adds its rtpbin when it is prepared, after this.
      g_signal_connect(pipeline, "element-added", G_CALLBACK(on_element_added), nullptr);
      gst_object_unref(pipeline);
    }
    gst_object_unref(bin);
    for (GstElement* src : {vsrc_, asrc_})
      g_object_set(src, "is-live", TRUE, "format", GST_FORMAT_TIME, "do-timestamp", FALSE, "block", FALSE,
                   "leaky-type", 2 /* downstream: drop the oldest */, "max-buffers", G_GUINT64_CONSTANT(50),
                   "max-bytes", G_GUINT64_CONSTANT(0), "max-time", G_GUINT64_CONSTANT(0), nullptr);
    listener_ = avatar_->add_listener([this](Avatar::Event e) {
      if (e == Avatar::Event::tearing_down) detach();
      else attach();
    });
    attach();
  }

  static void on_element_added(GstBin*, GstElement* element, gpointer) { sender_reports_from_capture_time(element); }

  ~MediaBridge() {
    avatar_->remove_listener(listener_);
    detach();
    gst_object_unref(vsrc_);
    gst_object_unref(asrc_);
  }

 private:
  void attach() {
    if (!avatar_->pipeline()) return;  // failed avatar: the media stays silent
    {
      std::lock_guard<std::mutex> lock(mu_);
      waiting_key_ = true;
    }
    // Caps of the running tees, so the SDP can be written at once.
    for (auto [tee, src] : {std::make_pair(avatar_->video_tee(), vsrc_), std::make_pair(avatar_->audio_tee(), asrc_)}) {
      GstPad* pad = gst_element_get_static_pad(tee, "sink");
      GstCaps* caps = gst_pad_get_current_caps(pad);
      gst_object_unref(pad);
      if (caps) {
        gst_app_src_set_caps(GST_APP_SRC(src), caps);
        gst_caps_unref(caps);
      }
    }
    video_.attach(avatar_->pipeline(), avatar_->video_tee(), 10, [this](GstSample* s) { forward(s, vsrc_, true); });
    audio_.attach(avatar_->pipeline(), avatar_->audio_tee(), 25, [this](GstSample* s) { forward(s, asrc_, false); });
    avatar_->request_key_frame();
  }

  void detach() {
    video_.detach();
    audio_.detach();
  }

  // Streaming thread of the branch's appsink, at the sample's release time.
  void forward(GstSample* sample, GstElement* src, bool video) {
    GstBuffer* buf = gst_sample_get_buffer(sample);
    const GstSegment* seg = gst_sample_get_segment(sample);
    if (!buf || !seg || !GST_BUFFER_PTS_IS_VALID(buf)) return;
    if (video) {
      std::lock_guard<std::mutex> lock(mu_);
      if (waiting_key_) {
        if (GST_BUFFER_FLAG_IS_SET(buf, GST_BUFFER_FLAG_DELTA_UNIT)) return;  // clients start on a key frame
        waiting_key_ = false;
      }
    }
    const GstClockTime rt = gst_segment_to_running_time(seg, GST_FORMAT_TIME, GST_BUFFER_PTS(buf));
    if (!GST_CLOCK_TIME_IS_VALID(rt)) return;
    GstElement* pipeline = avatar_->pipeline();
    if (!pipeline) return;
    const GstClockTime release = gst_element_get_base_time(pipeline) + rt + avatar_->latency();
    GstBuffer* out = gst_buffer_copy(buf);  // shares the memory
    GST_BUFFER_PTS(out) = release;
    GST_BUFFER_DTS(out) = release;  // no B-frames (zerolatency)
    gst_app_src_push_buffer(GST_APP_SRC(src), out);
  }

  Avatar* avatar_;
  GstRTSPMedia* media_;
  GstElement* vsrc_ = nullptr;
  GstElement* asrc_ = nullptr;
  TeeBranch video_, audio_;
  int listener_ = 0;
  std::mutex mu_;
  bool waiting_key_ = true;
};

}  // namespace

// The bridges alive, so that stop() can end them before the avatars go.
struct RtspOutput::Bridges {
  std::mutex mu;
  std::map<MediaBridge*, GstRTSPMedia*> live;
};

namespace {

struct MountCtx {
  Avatar* avatar;
  std::shared_ptr<RtspOutput::Bridges> bridges;
};

struct UnprepareCtx {
  MediaBridge* bridge;
  std::shared_ptr<RtspOutput::Bridges> bridges;
};

void on_media_unprepared(GstRTSPMedia*, gpointer data) {
  auto* c = static_cast<UnprepareCtx*>(data);
  {
    std::lock_guard<std::mutex> lock(c->bridges->mu);
    if (!c->bridges->live.erase(c->bridge)) return;  // stop() ended it already
  }
  delete c->bridge;
}

void on_media_configure(GstRTSPMediaFactory*, GstRTSPMedia* media, gpointer data) {
  auto* mount = static_cast<MountCtx*>(data);
  auto* bridge = new MediaBridge(mount->avatar, media);
  {
    std::lock_guard<std::mutex> lock(mount->bridges->mu);
    mount->bridges->live[bridge] = media;
  }
  g_signal_connect_data(media, "unprepared", G_CALLBACK(on_media_unprepared), new UnprepareCtx{bridge, mount->bridges},
                        [](gpointer p, GClosure*) { delete static_cast<UnprepareCtx*>(p); }, GConnectFlags(0));
}

// Viewer accounting per avatar: the avatars a client has played.
struct ClientViews {
  AvatarSet* avatars;
  std::set<std::string> names;
};

std::string avatar_of(GstRTSPContext* ctx) {
  if (!ctx || !ctx->uri || !ctx->uri->abspath) return "";
  std::string path = ctx->uri->abspath;
  while (!path.empty() && path.front() == '/') path.erase(0, 1);
  const size_t slash = path.find('/');  // .../stream=0 on SETUP
  return slash == std::string::npos ? path : path.substr(0, slash);
}

void on_play_request(GstRTSPClient* client, GstRTSPContext* ctx, gpointer) {
  auto* views = static_cast<ClientViews*>(g_object_get_data(G_OBJECT(client), "tavce-views"));
  const std::string name = avatar_of(ctx);
  Avatar* a = views ? views->avatars->find(name) : nullptr;
  if (!a) return;
  if (views->names.insert(name).second) a->viewers()++;
  a->request_key_frame();  // a joining client decodes from the next key frame
}

void on_client_closed(GstRTSPClient* client, gpointer) {
  auto* views = static_cast<ClientViews*>(g_object_get_data(G_OBJECT(client), "tavce-views"));
  if (!views) return;
  for (const auto& n : views->names)
    if (Avatar* a = views->avatars->find(n)) a->viewers()--;
  views->names.clear();
}

void on_client_connected(GstRTSPServer*, GstRTSPClient* client, gpointer avatars) {
  g_object_set_data_full(G_OBJECT(client), "tavce-views", new ClientViews{static_cast<AvatarSet*>(avatars), {}},
                         [](gpointer p) { delete static_cast<ClientViews*>(p); });
  g_signal_connect(client, "play-request", G_CALLBACK(on_play_request), nullptr);
  g_signal_connect(client, "closed", G_CALLBACK(on_client_closed), nullptr);
}

}  // namespace

RtspOutput::RtspOutput(AvatarSet& avatars, const ServeConfig& cfg)
    : avatars_(avatars), cfg_(cfg), bridges_(std::make_shared<Bridges>()) {}

RtspOutput::~RtspOutput() {
  stop();
  // Medias still referenced by sessions may unprepare later and look the bridges up.
  if (server_) g_object_unref(server_);
  server_ = nullptr;
}

void RtspOutput::stop() {
  if (cleanup_timer_) g_source_remove(cleanup_timer_);
  cleanup_timer_ = 0;
  if (source_) g_source_remove(source_);
  source_ = 0;
  std::map<MediaBridge*, GstRTSPMedia*> live;
  {
    std::lock_guard<std::mutex> lock(bridges_->mu);
    live.swap(bridges_->live);
  }
  for (auto& [bridge, media] : live) delete bridge;  // detaches from the avatar's tees and listeners
}

bool RtspOutput::start(std::string& error) {
  server_ = gst_rtsp_server_new();
  gst_rtsp_server_set_address(server_, cfg_.bind.c_str());
  gst_rtsp_server_set_service(server_, std::to_string(cfg_.rtsp_port).c_str());
  // RTP/RTCP over UDP binds where --bind says, not on every interface.
  GstRTSPAddressPool* pool = nullptr;
  if (cfg_.bind != "0.0.0.0" && cfg_.bind != "::") {
    pool = gst_rtsp_address_pool_new();
    if (!gst_rtsp_address_pool_add_range(pool, cfg_.bind.c_str(), cfg_.bind.c_str(), 32768, 60999, 0)) {
      g_object_unref(pool);
      pool = nullptr;
    }
  }
  GstRTSPMountPoints* mounts = gst_rtsp_server_get_mount_points(server_);
  for (const auto& a : avatars_.all()) {
    GstRTSPMediaFactory* f = gst_rtsp_media_factory_new();
    gst_rtsp_media_factory_set_launch(f, kMediaLaunch);
    gst_rtsp_media_factory_set_shared(f, TRUE);
    // Live media: a client that pauses gets no backlog, and one that leaves
    // does not stop the others.
    gst_rtsp_media_factory_set_suspend_mode(f, GST_RTSP_SUSPEND_MODE_NONE);
    if (pool) gst_rtsp_media_factory_set_address_pool(f, pool);
    g_signal_connect_data(f, "media-configure", G_CALLBACK(on_media_configure), new MountCtx{a.get(), bridges_},
                          [](gpointer p, GClosure*) { delete static_cast<MountCtx*>(p); }, GConnectFlags(0));
    gst_rtsp_mount_points_add_factory(mounts, ("/" + a->name()).c_str(), f);
  }
  g_object_unref(mounts);
  if (pool) g_object_unref(pool);
  g_signal_connect(server_, "client-connected", G_CALLBACK(on_client_connected), &avatars_);

  GError* err = nullptr;
  GSource* src = gst_rtsp_server_create_source(server_, nullptr, &err);
  if (!src) {
    error = "cannot listen for RTSP on " + cfg_.bind + ":" + std::to_string(cfg_.rtsp_port) + ": " +
            (err ? err->message : "unknown error") + " (another server on that port? --rtsp-port)";
    if (err) g_error_free(err);
    return false;
  }
  source_ = g_source_attach(src, nullptr);
  g_source_unref(src);
  port_ = gst_rtsp_server_get_bound_port(server_);
  // Sessions of clients that vanished without TEARDOWN time out here.
  cleanup_timer_ = g_timeout_add_seconds(
      2,
      [](gpointer s) -> gboolean {
        GstRTSPSessionPool* pool = gst_rtsp_server_get_session_pool(static_cast<GstRTSPServer*>(s));
        gst_rtsp_session_pool_cleanup(pool);
        g_object_unref(pool);
        return G_SOURCE_CONTINUE;
      },
      server_);
  return true;
}
