// One browser viewer of an avatar over WebRTC: a webrtcbin branch hung on the
// avatar's H.264 and Opus tees, negotiated from the browser's SDP offer the
// WHEP way (one offer in, one answer out carrying every host candidate: no
// trickle). The viewer owns its branch and nothing else: it never touches the
// avatar's encoders, and a viewer that stalls only makes its own leaky queues
// drop. All public calls are made on the main context (the one the HTTP server
// runs on); webrtcbin's own threads only post events back to it.
#pragma once

#include <gst/gst.h>
#include <gst/sdp/sdp.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>

// The media an avatar offers to viewers (contract of pipelines/serve/avatar.h).
struct ViewerSource {
  GstElement* pipeline = nullptr;   // the avatar's running pipeline; the branch is added to it
  GstElement* video_tee = nullptr;  // video/x-h264, byte-stream, au, constrained-baseline
  GstElement* audio_tee = nullptr;  // audio/x-opus, 48 kHz (may be null: video only)
};

struct WebRtcViewerConfig {
  // Local address the ICE agent gathers host candidates on; empty gathers on
  // every interface (serving beyond this machine: --bind 0.0.0.0).
  std::string ice_address = "127.0.0.1";
  // Offer in to answer (with every candidate) out; past it the POST gets 504.
  unsigned negotiation_timeout_ms = 5000;
  // Answer out to ICE+DTLS connected; past it the viewer is removed (a client
  // that POSTed and went away never connects).
  unsigned connect_timeout_ms = 15000;
  // Connected, then disconnected for this long: removed.
  unsigned disconnect_grace_ms = 5000;
};

// What the offer asks for, in the payload types the browser chose.
struct OfferedCodecs {
  int video_pt = -1;  // H.264, packetization-mode=1
  std::string video_profile_level_id;  // that entry's profile-level-id, when it has one
  int audio_pt = -1;  // Opus/48000, -1 when the offer has no usable audio m-line
  bool has_audio_mline = false;
};

// Why an offer cannot be served, as the HTTP status and a sentence for the
// client (400: not an SDP offer we can read; 406: no codec we send).
struct OfferProblem {
  int http_status;
  std::string reason;
};

// Reads `sdp_text` and picks the payload types to answer with, or says why it
// cannot. Pure: no webrtcbin involved, so a malformed offer never reaches it.
// On success `*parsed` is the offer for webrtcbin (caller frees), its video
// and audio m-lines reduced to the chosen payload types.
std::optional<OfferProblem> choose_offered_codecs(const std::string& sdp_text, OfferedCodecs& out,
                                                  GstSDPMessage** parsed);

class WebRtcViewer : public std::enable_shared_from_this<WebRtcViewer> {
 public:
  enum class State { negotiating, answered, connected, closed };

  // Called once per viewer on the main context: status 201 with the answer
  // SDP, or an error status with a reason.
  using AnswerHandler = std::function<void(int http_status, const std::string& body)>;
  // Called on the main context when the viewer ended by itself (ICE failure,
  // disconnect, timeout, error inside its branch); the owner drops it then.
  using EndHandler = std::function<void(const std::string& id, const std::string& why)>;

  WebRtcViewer(std::string id, std::string avatar_name, ViewerSource source, WebRtcViewerConfig config,
               EndHandler on_end);
  ~WebRtcViewer();
  WebRtcViewer(const WebRtcViewer&) = delete;
  WebRtcViewer& operator=(const WebRtcViewer&) = delete;

  // Builds the branch for `codecs`, attaches it to the tees and negotiates
  // `offer` (taken over). `on_answer` is called exactly once, unless close()
  // comes first.
  void start(GstSDPMessage* offer, const OfferedCodecs& codecs, AnswerHandler on_answer);

  // Detaches the branch from the tees and frees it. Idempotent; no handler is
  // called afterwards.
  void close();
  // Closes, logs `why` and calls the end handler (the owner forgets it).
  void end(const std::string& why);

  // Posted to the main context by the viewer's own webrtcbin callbacks; not
  // for other callers.
  void close_with_negotiation_error(int http_status, const std::string& reason);
  void answer_ready(const std::string& sdp);
  void connection_state_changed(int state);  // a GstWebRTCPeerConnectionState
  void branch_failed(const std::string& message);

  struct Shared;  // what webrtcbin's threads may touch

  const std::string& id() const { return id_; }
  const std::string& avatar_name() const { return avatar_name_; }
  State state() const { return state_; }
  static const char* state_name(State s);

 private:
  bool build_branch(const OfferedCodecs& codecs, std::string& error);
  std::string with_profile_level_id(const std::string& answer) const;
  void request_key_frame();
  void clear_timer(guint& id);

  std::string id_;
  std::string avatar_name_;
  ViewerSource source_;
  WebRtcViewerConfig config_;
  OfferedCodecs codecs_;
  EndHandler on_end_;
  AnswerHandler on_answer_;
  State state_ = State::negotiating;

  GstElement* bin_ = nullptr;      // the whole branch, one child of the avatar's pipeline
  GstElement* webrtc_ = nullptr;   // owned by bin_
  GstElement* video_queue_ = nullptr;
  GstPad* video_tee_pad_ = nullptr;
  GstPad* audio_tee_pad_ = nullptr;
  std::shared_ptr<Shared> shared_;
  gint64 started_us_ = 0;  // offer received (monotonic), for the log lines
  guint negotiation_timer_ = 0;
  guint connect_timer_ = 0;
  guint grace_timer_ = 0;
};
