#include "webrtc_viewer.h"

#define GST_USE_UNSTABLE_API  // webrtc library headers
#include <gst/video/video.h>
#include <gst/webrtc/webrtc.h>

#include <cstdio>
#include <cstring>
#include <mutex>
#include <strings.h>
#include <utility>

#include "sender_reports.h"

// ---------------------------------------------------------------------------
// Offer reading

namespace {

bool is_h264_mode1(const GstStructure* s) {
  const char* enc = gst_structure_get_string(s, "encoding-name");
  const char* mode = gst_structure_get_string(s, "packetization-mode");
  return enc && g_ascii_strcasecmp(enc, "H264") == 0 && mode && std::strcmp(mode, "1") == 0;
}

// Our stream is constrained baseline: prefer the offer's entry for exactly
// that, then plain baseline, then any H.264 (every profile's decoder decodes
// constrained baseline).
int h264_rank(const GstStructure* s) {
  // gst_sdp_media_get_caps_from_media() turns profile-level-id into "profile".
  const char* profile = gst_structure_get_string(s, "profile");
  if (!profile) return 1;
  if (std::strcmp(profile, "constrained-baseline") == 0) return 3;
  if (std::strcmp(profile, "baseline") == 0) return 2;
  return 1;
}

bool is_opus(const GstStructure* s) {
  const char* enc = gst_structure_get_string(s, "encoding-name");
  int rate = 0;
  return enc && g_ascii_strcasecmp(enc, "OPUS") == 0 && gst_structure_get_int(s, "clock-rate", &rate) &&
         rate == 48000;
}

bool media_only_sends(const GstSDPMedia* media) {
  return gst_sdp_media_get_attribute_val(media, "sendonly") != nullptr ||
         gst_sdp_media_get_attribute_val(media, "inactive") != nullptr;
}

// The encoding names of an m-line, for the 406 message.
std::string offered_encodings(const GstSDPMedia* media) {
  std::string names;
  for (guint f = 0; f < gst_sdp_media_formats_len(media); ++f) {
    int pt = std::atoi(gst_sdp_media_get_format(media, f));
    GstCaps* caps = gst_sdp_media_get_caps_from_media(media, pt);
    if (!caps) continue;
    const char* enc = gst_structure_get_string(gst_caps_get_structure(caps, 0), "encoding-name");
    if (enc && names.find(enc) == std::string::npos) names += (names.empty() ? "" : ", ") + std::string(enc);
    gst_caps_unref(caps);
  }
  return names.empty() ? "nothing with an rtpmap" : names;
}

// Leaves `keep_pt` as the m-line's only format, with its own attributes.
// webrtcbin answers with the first format it can send, which need not be the
// one our payloader stamps on the packets; with one left they agree.
void keep_only_format(GstSDPMedia* media, int keep_pt) {
  const std::string keep = std::to_string(keep_pt);
  for (guint f = gst_sdp_media_formats_len(media); f-- > 0;)
    if (keep != gst_sdp_media_get_format(media, f)) gst_sdp_media_remove_format(media, f);
  for (guint a = gst_sdp_media_attributes_len(media); a-- > 0;) {
    const GstSDPAttribute* attr = gst_sdp_media_get_attribute(media, a);
    const bool per_format = !std::strcmp(attr->key, "rtpmap") || !std::strcmp(attr->key, "fmtp") ||
                            !std::strcmp(attr->key, "rtcp-fb");
    if (!per_format || !attr->value) continue;
    const std::string value = attr->value;
    const std::string pt = value.substr(0, value.find(' '));
    if (pt != keep && pt != "*") gst_sdp_media_remove_attribute(media, a);
  }
}

}  // namespace

std::optional<OfferProblem> choose_offered_codecs(const std::string& sdp_text, OfferedCodecs& out,
                                                  GstSDPMessage** parsed) {
  out = OfferedCodecs{};
  *parsed = nullptr;
  if (sdp_text.compare(0, 4, "v=0\r") != 0 && sdp_text.compare(0, 4, "v=0\n") != 0)
    return OfferProblem{400, "not an SDP offer: the body must start with the line v=0"};
  GstSDPMessage* msg = nullptr;
  gst_sdp_message_new(&msg);
  GstSDPResult r = gst_sdp_message_parse_buffer(reinterpret_cast<const guint8*>(sdp_text.data()),
                                                static_cast<guint>(sdp_text.size()), msg);
  if (r != GST_SDP_OK) {
    gst_sdp_message_free(msg);
    return OfferProblem{400, "the SDP parser refused the offer (GstSDPResult " + std::to_string(r) + ")"};
  }
  auto refuse = [&](int status, std::string reason) {
    gst_sdp_message_free(msg);
    return OfferProblem{status, std::move(reason)};
  };
  if (gst_sdp_message_medias_len(msg) == 0) return refuse(400, "the offer has no m-line");

  const GstSDPMedia* video = nullptr;
  const GstSDPMedia* audio = nullptr;
  for (guint i = 0; i < gst_sdp_message_medias_len(msg); ++i) {
    const GstSDPMedia* m = gst_sdp_message_get_media(msg, i);
    const char* kind = gst_sdp_media_get_media(m);
    if (!kind) continue;
    if (!video && std::strcmp(kind, "video") == 0) video = m;
    if (!audio && std::strcmp(kind, "audio") == 0) audio = m;
  }
  if (!video) return refuse(400, "the offer has no video m-line: a viewer receives the avatar's video");
  if (media_only_sends(video))
    return refuse(400, "the offer's video m-line does not receive (sendonly or inactive): offer recvonly");

  int best_rank = 0;
  for (guint f = 0; f < gst_sdp_media_formats_len(video); ++f) {
    int pt = std::atoi(gst_sdp_media_get_format(video, f));
    GstCaps* caps = gst_sdp_media_get_caps_from_media(video, pt);
    if (!caps) continue;
    const GstStructure* s = gst_caps_get_structure(caps, 0);
    if (is_h264_mode1(s) && h264_rank(s) > best_rank) {
      best_rank = h264_rank(s);
      out.video_pt = pt;
    }
    gst_caps_unref(caps);
  }
  if (out.video_pt >= 0) {
    // The SDP parser folds profile-level-id into "profile"; keep the exact
    // value from the fmtp line for the answer.
    const std::string prefix = std::to_string(out.video_pt) + " ";
    for (guint a = 0; const char* fmtp = gst_sdp_media_get_attribute_val_n(video, "fmtp", a); ++a) {
      const std::string line = fmtp;
      if (line.compare(0, prefix.size(), prefix) != 0) continue;
      const size_t at = line.find("profile-level-id=");
      if (at != std::string::npos) out.video_profile_level_id = line.substr(at + 17, 6);
    }
  }
  if (out.video_pt < 0)
    return refuse(406, "the offer's video m-line has no H.264 with packetization-mode=1 (offered: " +
                           offered_encodings(video) + ")");

  if (audio && !media_only_sends(audio)) {
    out.has_audio_mline = true;
    for (guint f = 0; f < gst_sdp_media_formats_len(audio) && out.audio_pt < 0; ++f) {
      int pt = std::atoi(gst_sdp_media_get_format(audio, f));
      GstCaps* caps = gst_sdp_media_get_caps_from_media(audio, pt);
      if (!caps) continue;
      if (is_opus(gst_caps_get_structure(caps, 0))) out.audio_pt = pt;
      gst_caps_unref(caps);
    }
    if (out.audio_pt < 0)
      return refuse(406, "the offer's audio m-line has no Opus/48000 (offered: " + offered_encodings(audio) + ")");
  }
  for (guint i = 0; i < gst_sdp_message_medias_len(msg); ++i) {
    GstSDPMedia* m = &g_array_index(msg->medias, GstSDPMedia, i);
    if (m == video) keep_only_format(m, out.video_pt);
    if (m == audio && out.audio_pt >= 0) keep_only_format(m, out.audio_pt);
  }
  *parsed = msg;
  return std::nullopt;
}

// ---------------------------------------------------------------------------
// A bin that keeps its children's errors to itself: an error inside one
// viewer's webrtcbin (a DTLS alert from a browser that went away) must end
// that viewer, never reach the avatar's bus where it would stop the avatar.

namespace {

using BranchErrorFn = void (*)(gpointer data, const std::string& message);

struct TavceViewerBin {
  GstBin parent;
  BranchErrorFn on_error;
  gpointer on_error_data;
};
struct TavceViewerBinClass {
  GstBinClass parent_class;
};

GType viewer_bin_get_type();
G_DEFINE_TYPE(TavceViewerBin, viewer_bin, GST_TYPE_BIN)

void viewer_bin_handle_message(GstBin* bin, GstMessage* message) {
  auto* self = reinterpret_cast<TavceViewerBin*>(bin);
  if (GST_MESSAGE_TYPE(message) == GST_MESSAGE_ERROR) {
    GError* err = nullptr;
    gchar* debug = nullptr;
    gst_message_parse_error(message, &err, &debug);
    std::string text = std::string(GST_OBJECT_NAME(GST_MESSAGE_SRC(message))) + ": " + err->message;
    g_clear_error(&err);
    g_free(debug);
    if (self->on_error) self->on_error(self->on_error_data, text);
    gst_message_unref(message);
    return;
  }
  GST_BIN_CLASS(viewer_bin_parent_class)->handle_message(bin, message);
}

void viewer_bin_class_init(TavceViewerBinClass* klass) {
  GST_BIN_CLASS(klass)->handle_message = viewer_bin_handle_message;
}
void viewer_bin_init(TavceViewerBin* self) {
  self->on_error = nullptr;
  self->on_error_data = nullptr;
}

void log_viewer(const std::string& avatar, const std::string& id, const std::string& text) {
  std::fprintf(stderr, "tavce-serve: webrtc %s/%s: %s\n", avatar.c_str(), id.c_str(), text.c_str());
}

}  // namespace

// ---------------------------------------------------------------------------
// What webrtcbin's threads hold: the viewer only weakly, so a callback that
// arrives after close() finds nothing and does nothing. Every callback posts
// its work to the main context; nothing else runs on those threads.

struct WebRtcViewer::Shared {
  std::weak_ptr<WebRtcViewer> viewer;
  GMainContext* main_context = nullptr;
  GstElement* webrtc = nullptr;  // a ref of its own: promises may outlive the viewer
  std::mutex mutex;
  bool local_description_set = false;
  bool answer_posted = false;

  ~Shared() {
    if (webrtc) gst_object_unref(webrtc);
    if (main_context) g_main_context_unref(main_context);
  }
};

namespace {

struct MainTask {
  std::weak_ptr<WebRtcViewer> viewer;
  std::function<void(WebRtcViewer&)> fn;
};

// Always deferred through an idle source, even from the main thread, so a
// signal fired inside one of our own calls (close()) never re-enters it.
void post(const std::shared_ptr<WebRtcViewer::Shared>& shared, std::function<void(WebRtcViewer&)> fn) {
  auto* task = new MainTask{shared->viewer, std::move(fn)};
  GSource* source = g_idle_source_new();
  g_source_set_priority(source, G_PRIORITY_DEFAULT);
  g_source_set_callback(
      source,
      [](gpointer data) -> gboolean {
        auto* t = static_cast<MainTask*>(data);
        if (auto v = t->viewer.lock()) t->fn(*v);
        return G_SOURCE_REMOVE;
      },
      task, [](gpointer data) { delete static_cast<MainTask*>(data); });
  g_source_attach(source, shared->main_context);
  g_source_unref(source);
}

using SharedPtr = std::shared_ptr<WebRtcViewer::Shared>;
SharedPtr* new_ref(const SharedPtr& s) { return new SharedPtr(s); }
void delete_ref(gpointer data) { delete static_cast<SharedPtr*>(data); }
void delete_ref_closure(gpointer data, GClosure*) { delete static_cast<SharedPtr*>(data); }

std::string promise_error(GstPromise* promise, const char* step) {
  if (gst_promise_wait(promise) != GST_PROMISE_RESULT_REPLIED) return std::string(step) + " was interrupted";
  const GstStructure* reply = gst_promise_get_reply(promise);
  if (reply && gst_structure_has_field(reply, "error")) {
    GError* err = nullptr;
    gst_structure_get(reply, "error", G_TYPE_ERROR, &err, nullptr);
    std::string text = std::string(step) + ": " + (err ? err->message : "unknown error");
    g_clear_error(&err);
    return text;
  }
  return {};
}

void maybe_post_answer(const SharedPtr& s) {
  GstWebRTCICEGatheringState gathering = GST_WEBRTC_ICE_GATHERING_STATE_NEW;
  g_object_get(s->webrtc, "ice-gathering-state", &gathering, nullptr);
  {
    std::lock_guard<std::mutex> lock(s->mutex);
    if (!s->local_description_set || gathering != GST_WEBRTC_ICE_GATHERING_STATE_COMPLETE || s->answer_posted)
      return;
    s->answer_posted = true;
  }
  GstWebRTCSessionDescription* desc = nullptr;
  g_object_get(s->webrtc, "local-description", &desc, nullptr);
  std::string sdp;
  if (desc) {
    gchar* text = gst_sdp_message_as_text(desc->sdp);
    sdp = text;
    g_free(text);
    gst_webrtc_session_description_free(desc);
  }
  post(s, [sdp](WebRtcViewer& v) {
    if (sdp.empty())
      v.close_with_negotiation_error(500, "webrtcbin has no local description after ICE gathering");
    else
      v.answer_ready(sdp);
  });
}

void on_local_description_set(GstPromise* promise, gpointer data) {
  SharedPtr s = *static_cast<SharedPtr*>(data);
  std::string error = promise_error(promise, "setting the answer");
  gst_promise_unref(promise);
  if (!error.empty()) {
    post(s, [error](WebRtcViewer& v) { v.close_with_negotiation_error(500, error); });
    return;
  }
  {
    std::lock_guard<std::mutex> lock(s->mutex);
    s->local_description_set = true;
  }
  maybe_post_answer(s);
}

void on_answer_created(GstPromise* promise, gpointer data) {
  SharedPtr s = *static_cast<SharedPtr*>(data);
  std::string error = promise_error(promise, "creating the answer");
  GstWebRTCSessionDescription* answer = nullptr;
  if (error.empty()) {
    gst_structure_get(gst_promise_get_reply(promise), "answer", GST_TYPE_WEBRTC_SESSION_DESCRIPTION, &answer,
                      nullptr);
    if (!answer) error = "creating the answer: webrtcbin gave none";
  }
  gst_promise_unref(promise);
  if (!error.empty()) {
    post(s, [error](WebRtcViewer& v) { v.close_with_negotiation_error(500, error); });
    return;
  }
  GstPromise* next = gst_promise_new_with_change_func(on_local_description_set, new_ref(s), delete_ref);
  g_signal_emit_by_name(s->webrtc, "set-local-description", answer, next);
  gst_webrtc_session_description_free(answer);
}

void on_remote_description_set(GstPromise* promise, gpointer data) {
  SharedPtr s = *static_cast<SharedPtr*>(data);
  std::string error = promise_error(promise, "webrtcbin refused the offer");
  gst_promise_unref(promise);
  if (!error.empty()) {
    post(s, [error](WebRtcViewer& v) { v.close_with_negotiation_error(400, error); });
    return;
  }
  GstPromise* next = gst_promise_new_with_change_func(on_answer_created, new_ref(s), delete_ref);
  g_signal_emit_by_name(s->webrtc, "create-answer", nullptr, next);
}

void on_gathering_state(GstElement*, GParamSpec*, gpointer data) { maybe_post_answer(*static_cast<SharedPtr*>(data)); }

void on_connection_state_notify(GstElement* webrtc, GParamSpec*, gpointer data) {
  GstWebRTCPeerConnectionState state = GST_WEBRTC_PEER_CONNECTION_STATE_NEW;
  g_object_get(webrtc, "connection-state", &state, nullptr);
  post(*static_cast<SharedPtr*>(data), [state](WebRtcViewer& v) { v.connection_state_changed(state); });
}

void on_branch_error(gpointer data, const std::string& message) {
  post(*static_cast<SharedPtr*>(data), [message](WebRtcViewer& v) { v.branch_failed(message); });
}

GstElement* make(const char* factory, const std::string& name, std::string& error) {
  GstElement* e = gst_element_factory_make(factory, name.c_str());
  if (!e) error = std::string("GStreamer element '") + factory + "' is missing (install its plugin)";
  return e;
}

}  // namespace

// ---------------------------------------------------------------------------

const char* WebRtcViewer::state_name(State s) {
  switch (s) {
    case State::negotiating: return "negotiating";
    case State::answered: return "answered";
    case State::connected: return "connected";
    case State::closed: return "closed";
  }
  return "?";
}

WebRtcViewer::WebRtcViewer(std::string id, std::string avatar_name, ViewerSource source,
                           WebRtcViewerConfig config, EndHandler on_end)
    : id_(std::move(id)),
      avatar_name_(std::move(avatar_name)),
      source_(source),
      config_(std::move(config)),
      on_end_(std::move(on_end)) {
  // Refs of our own: the viewer can still detach itself cleanly if the avatar
  // is torn down first.
  for (GstElement* e : {source_.pipeline, source_.video_tee, source_.audio_tee})
    if (e) gst_object_ref(e);
}

WebRtcViewer::~WebRtcViewer() {
  close();
  for (GstElement* e : {source_.pipeline, source_.video_tee, source_.audio_tee})
    if (e) gst_object_unref(e);
}

bool WebRtcViewer::build_branch(const OfferedCodecs& codecs, std::string& error) {
  const std::string prefix = "whep-" + id_ + "-";
  bin_ = GST_ELEMENT(g_object_new(viewer_bin_get_type(), "name", (prefix + "bin").c_str(), nullptr));
  auto* vbin = reinterpret_cast<TavceViewerBin*>(bin_);
  vbin->on_error = on_branch_error;
  vbin->on_error_data = new_ref(shared_);
  g_object_set_data_full(G_OBJECT(bin_), "tavce-viewer-shared", vbin->on_error_data, delete_ref);

  gst_object_ref_sink(bin_);  // ours until close(), whether or not the pipeline holds it too

  auto add = [&](const char* factory, const char* role) -> GstElement* {
    GstElement* e = make(factory, prefix + role, error);
    if (e) gst_bin_add(GST_BIN(bin_), e);
    return e;
  };
  webrtc_ = add("webrtcbin", "webrtcbin");
  video_queue_ = add("queue", "video-queue");
  GstElement* vpay = add("rtph264pay", "h264pay");
  GstElement* audio_queue = nullptr;
  GstElement* apay = nullptr;
  const bool with_audio = codecs.audio_pt >= 0 && source_.audio_tee;
  if (with_audio) {
    audio_queue = add("queue", "audio-queue");
    apay = add("rtpopuspay", "opuspay");
  }
  if (!error.empty()) return false;

  g_object_set(webrtc_, "bundle-policy", GST_WEBRTC_BUNDLE_POLICY_MAX_BUNDLE, nullptr);
  if (GstElement* rtpbin = gst_bin_get_by_name(GST_BIN(webrtc_), "rtpbin")) {
    sender_reports_from_capture_time(rtpbin);
    gst_object_unref(rtpbin);
  }
  // A viewer that cannot keep up loses old frames in its own queue instead of
  // holding back the tee (and with it the render and every other viewer).
  for (GstElement* q : {video_queue_, audio_queue}) {
    if (!q) continue;
    g_object_set(q, "leaky", 2 /* downstream */, "max-size-buffers", 0u, "max-size-bytes", 0u,
                 "max-size-time", static_cast<guint64>(500 * GST_MSECOND), nullptr);
  }
  g_object_set(vpay, "pt", static_cast<guint>(codecs.video_pt), "config-interval", -1, nullptr);
  gst_util_set_object_arg(G_OBJECT(vpay), "aggregate-mode", "zero-latency");

  GstObject* ice = nullptr;
  g_object_get(webrtc_, "ice-agent", &ice, nullptr);
  if (!ice) {
    error = "webrtcbin has no ICE agent";
    return false;
  }
  // Host candidates only on the served address (loopback by default), UDP
  // only (what browsers use first; half the candidates to gather).
  gboolean ok = TRUE;
  if (!config_.ice_address.empty())
    g_signal_emit_by_name(ice, "add-local-ip-address", config_.ice_address.c_str(), &ok);
  if (g_object_class_find_property(G_OBJECT_GET_CLASS(ice), "ice-tcp")) g_object_set(ice, "ice-tcp", FALSE, nullptr);
  // A browser that vanishes without DELETE (killed, network gone) must end
  // its viewer: keepalives sent as binding requests time out and fail the
  // connection, where plain indications would keep it "connected" forever.
  if (g_object_class_find_property(G_OBJECT_GET_CLASS(ice), "agent")) {
    GObject* agent = nullptr;
    g_object_get(ice, "agent", &agent, nullptr);
    if (agent && g_object_class_find_property(G_OBJECT_GET_CLASS(agent), "keepalive-conncheck"))
      g_object_set(agent, "keepalive-conncheck", TRUE, nullptr);
    if (agent) g_object_unref(agent);
  }
  gst_object_unref(ice);
  if (!ok) {
    error = "the ICE agent cannot gather on " + config_.ice_address;
    return false;
  }

  auto link_to_webrtc = [&](GstElement* pay, const std::string& caps_text) -> bool {
    GstPad* sink = gst_element_request_pad_simple(webrtc_, "sink_%u");
    GstPad* src = gst_element_get_static_pad(pay, "src");
    bool ok = sink && gst_pad_link(src, sink) == GST_PAD_LINK_OK;
    if (ok) {
      // Answer with exactly the payload type the browser offered; the other
      // fmtp parameters come from the offer when webrtcbin intersects.
      GstWebRTCRTPTransceiver* trans = nullptr;
      g_object_get(sink, "transceiver", &trans, nullptr);
      GstCaps* prefs = gst_caps_from_string(caps_text.c_str());
      g_object_set(trans, "codec-preferences", prefs, "direction",
                   GST_WEBRTC_RTP_TRANSCEIVER_DIRECTION_SENDONLY, nullptr);
      gst_caps_unref(prefs);
      gst_object_unref(trans);
    }
    if (sink) gst_object_unref(sink);
    gst_object_unref(src);
    return ok;
  };

  if (!gst_element_link(video_queue_, vpay) ||
      !link_to_webrtc(vpay, "application/x-rtp,media=video,encoding-name=H264,clock-rate=90000,payload=" +
                                std::to_string(codecs.video_pt))) {
    error = "linking the video branch failed";
    return false;
  }
  GstPad* qsink = gst_element_get_static_pad(video_queue_, "sink");
  gst_element_add_pad(bin_, gst_ghost_pad_new("video_sink", qsink));
  gst_object_unref(qsink);

  if (with_audio) {
    g_object_set(apay, "pt", static_cast<guint>(codecs.audio_pt), nullptr);
    if (!gst_element_link(audio_queue, apay) ||
        !link_to_webrtc(apay, "application/x-rtp,media=audio,encoding-name=OPUS,clock-rate=48000,payload=" +
                                  std::to_string(codecs.audio_pt))) {
      error = "linking the audio branch failed";
      return false;
    }
    GstPad* asink = gst_element_get_static_pad(audio_queue, "sink");
    gst_element_add_pad(bin_, gst_ghost_pad_new("audio_sink", asink));
    gst_object_unref(asink);
  }
  return true;
}

void WebRtcViewer::start(GstSDPMessage* offer, const OfferedCodecs& codecs, AnswerHandler on_answer) {
  on_answer_ = std::move(on_answer);
  codecs_ = codecs;
  started_us_ = g_get_monotonic_time();
  shared_ = std::make_shared<Shared>();
  shared_->viewer = weak_from_this();
  shared_->main_context = g_main_context_ref_thread_default();

  GstWebRTCSessionDescription* desc = gst_webrtc_session_description_new(GST_WEBRTC_SDP_TYPE_OFFER, offer);
  std::string error;
  if (!build_branch(codecs, error)) {
    gst_webrtc_session_description_free(desc);
    close_with_negotiation_error(500, error);
    return;
  }
  shared_->webrtc = GST_ELEMENT(gst_object_ref(webrtc_));

  g_signal_connect_data(webrtc_, "notify::ice-gathering-state", G_CALLBACK(on_gathering_state), new_ref(shared_),
                        delete_ref_closure, GConnectFlags(0));
  g_signal_connect_data(webrtc_, "notify::connection-state", G_CALLBACK(on_connection_state_notify),
                        new_ref(shared_), delete_ref_closure, GConnectFlags(0));

  // Playing first, linked second: a tee pushing into a pad that is still
  // flushing would get FLUSHING back and stop the avatar's stream.
  gst_bin_add(GST_BIN(source_.pipeline), bin_);
  gst_element_sync_state_with_parent(bin_);
  auto attach = [&](GstElement* tee, const char* ghost_name) -> GstPad* {
    GstPad* ghost = gst_element_get_static_pad(bin_, ghost_name);
    if (!ghost) return nullptr;
    GstPad* tee_pad = gst_element_request_pad_simple(tee, "src_%u");
    if (tee_pad && gst_pad_link(tee_pad, ghost) != GST_PAD_LINK_OK) {
      gst_element_release_request_pad(tee, tee_pad);
      gst_object_unref(tee_pad);
      tee_pad = nullptr;
    }
    gst_object_unref(ghost);
    return tee_pad;
  };
  video_tee_pad_ = attach(source_.video_tee, "video_sink");
  bool audio_wanted = codecs.audio_pt >= 0 && source_.audio_tee;
  if (audio_wanted) audio_tee_pad_ = attach(source_.audio_tee, "audio_sink");
  if (!video_tee_pad_ || (audio_wanted && !audio_tee_pad_)) {
    gst_webrtc_session_description_free(desc);
    close_with_negotiation_error(500, "the avatar's tee refused a new branch (caps mismatch?)");
    return;
  }

  negotiation_timer_ = g_timeout_add(
      config_.negotiation_timeout_ms,
      [](gpointer data) -> gboolean {
        auto* self = static_cast<WebRtcViewer*>(data);
        self->negotiation_timer_ = 0;
        self->close_with_negotiation_error(
            504, "no answer within " + std::to_string(self->config_.negotiation_timeout_ms) +
                     " ms (ICE candidate gathering did not complete)");
        return G_SOURCE_REMOVE;
      },
      this);

  GstPromise* promise = gst_promise_new_with_change_func(on_remote_description_set, new_ref(shared_), delete_ref);
  g_signal_emit_by_name(webrtc_, "set-remote-description", desc, promise);
  gst_webrtc_session_description_free(desc);
}

void WebRtcViewer::close_with_negotiation_error(int http_status, const std::string& reason) {
  if (state_ != State::negotiating) return;
  auto self = shared_from_this();  // the end handler may drop the owner's reference
  AnswerHandler answer = std::move(on_answer_);
  on_answer_ = nullptr;
  if (answer) answer(http_status, reason);
  end("negotiation failed: " + reason);
}

void WebRtcViewer::answer_ready(const std::string& sdp) {
  if (state_ != State::negotiating) return;
  if (sdp.find("a=candidate:") == std::string::npos) {
    close_with_negotiation_error(500, "ICE gathering found no candidate on " +
                                          (config_.ice_address.empty() ? "any interface" : config_.ice_address));
    return;
  }
  state_ = State::answered;
  clear_timer(negotiation_timer_);
  const std::string answer = with_profile_level_id(sdp);
  connect_timer_ = g_timeout_add(
      config_.connect_timeout_ms,
      [](gpointer data) -> gboolean {
        auto* self = static_cast<WebRtcViewer*>(data);
        self->connect_timer_ = 0;
        self->end("not connected " + std::to_string(self->config_.connect_timeout_ms) +
                  " ms after the answer (client gone?)");
        return G_SOURCE_REMOVE;
      },
      this);
  log_viewer(avatar_name_, id_,
             "answered after " + std::to_string((g_get_monotonic_time() - started_us_) / 1000) + " ms");
  AnswerHandler reply = std::move(on_answer_);
  on_answer_ = nullptr;
  if (reply) reply(201, answer);
}

// webrtcbin's answer leaves profile-level-id out of the H.264 fmtp, which a
// browser then reads as 42000a (baseline, level 1.0, 176x144). Name the entry
// of the offer we answer (constrained baseline at the level the browser
// decodes) so no decoder refuses the stream for its size.
std::string WebRtcViewer::with_profile_level_id(const std::string& answer) const {
  if (codecs_.video_profile_level_id.size() != 6) return answer;
  const std::string fmtp = "a=fmtp:" + std::to_string(codecs_.video_pt) + " ";
  size_t at = answer.find(fmtp);
  if (at == std::string::npos) return answer;
  size_t end = answer.find_first_of("\r\n", at);
  if (end == std::string::npos) end = answer.size();
  if (answer.substr(at, end - at).find("profile-level-id") != std::string::npos) return answer;
  return answer.substr(0, end) + ";profile-level-id=" + codecs_.video_profile_level_id + answer.substr(end);
}

void WebRtcViewer::connection_state_changed(int state) {
  if (state_ == State::closed || state_ == State::negotiating) {
    if (state_ == State::negotiating && state == GST_WEBRTC_PEER_CONNECTION_STATE_FAILED)
      close_with_negotiation_error(500, "the connection failed during negotiation");
    return;
  }
  switch (state) {
    case GST_WEBRTC_PEER_CONNECTION_STATE_CONNECTED:
      clear_timer(connect_timer_);
      clear_timer(grace_timer_);
      if (state_ != State::connected)
        log_viewer(avatar_name_, id_,
                   "connected " + std::to_string((g_get_monotonic_time() - started_us_) / 1000) + " ms after the offer");
      state_ = State::connected;
      request_key_frame();
      break;
    case GST_WEBRTC_PEER_CONNECTION_STATE_DISCONNECTED:
      if (!grace_timer_)
        grace_timer_ = g_timeout_add(
            config_.disconnect_grace_ms,
            [](gpointer data) -> gboolean {
              auto* self = static_cast<WebRtcViewer*>(data);
              self->grace_timer_ = 0;
              self->end("disconnected for " + std::to_string(self->config_.disconnect_grace_ms) + " ms");
              return G_SOURCE_REMOVE;
            },
            this);
      break;
    case GST_WEBRTC_PEER_CONNECTION_STATE_FAILED:
      end("the ICE/DTLS connection failed");
      break;
    case GST_WEBRTC_PEER_CONNECTION_STATE_CLOSED:
      end("the connection closed");
      break;
    default:
      break;
  }
}

void WebRtcViewer::branch_failed(const std::string& message) {
  if (state_ == State::negotiating)
    close_with_negotiation_error(500, message);
  else
    end("error in its branch: " + message);
}

// A new viewer cannot decode until the next IDR; ask the avatar's encoder for
// one now rather than wait for its key-frame interval.
void WebRtcViewer::request_key_frame() {
  if (!video_queue_) return;
  GstPad* sink = gst_element_get_static_pad(video_queue_, "sink");
  gst_pad_push_event(sink, gst_video_event_new_upstream_force_key_unit(GST_CLOCK_TIME_NONE, TRUE, 0));
  gst_object_unref(sink);
}

void WebRtcViewer::end(const std::string& why) {
  if (state_ == State::closed && !bin_) return;
  auto self = shared_from_this();
  log_viewer(avatar_name_, id_, "closed: " + why);
  close();
  EndHandler handler = std::move(on_end_);
  on_end_ = nullptr;
  if (handler) handler(id_, why);
}

void WebRtcViewer::clear_timer(guint& id) {
  if (id) g_source_remove(id);
  id = 0;
}

void WebRtcViewer::close() {
  state_ = State::closed;
  on_answer_ = nullptr;
  clear_timer(negotiation_timer_);
  clear_timer(connect_timer_);
  clear_timer(grace_timer_);
  if (shared_) {
    // Callbacks already queued find the viewer gone (weak pointer).
    std::lock_guard<std::mutex> lock(shared_->mutex);
    shared_->answer_posted = true;
  }
  if (webrtc_) g_signal_handlers_disconnect_matched(webrtc_, G_SIGNAL_MATCH_FUNC, 0, 0, nullptr,
                                                    reinterpret_cast<gpointer>(on_gathering_state), nullptr);
  if (webrtc_) g_signal_handlers_disconnect_matched(webrtc_, G_SIGNAL_MATCH_FUNC, 0, 0, nullptr,
                                                    reinterpret_cast<gpointer>(on_connection_state_notify), nullptr);
  // The tee drops a released pad safely while it streams; after that nothing
  // enters the branch and it can stop.
  if (video_tee_pad_) {
    gst_element_release_request_pad(source_.video_tee, video_tee_pad_);
    gst_object_unref(video_tee_pad_);
    video_tee_pad_ = nullptr;
  }
  if (audio_tee_pad_) {
    gst_element_release_request_pad(source_.audio_tee, audio_tee_pad_);
    gst_object_unref(audio_tee_pad_);
    audio_tee_pad_ = nullptr;
  }
  if (bin_) {
    gst_element_set_locked_state(bin_, TRUE);
    gst_element_set_state(bin_, GST_STATE_NULL);
    if (GST_OBJECT_PARENT(bin_)) gst_bin_remove(GST_BIN(source_.pipeline), bin_);
    gst_object_unref(bin_);
    bin_ = nullptr;
    webrtc_ = nullptr;
    video_queue_ = nullptr;
  }
}
