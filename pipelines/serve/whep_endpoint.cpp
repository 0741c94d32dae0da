#include "whep_endpoint.h"

#include "avatar.h"
#include "json_text.h"
#include "player_page.h"

#include <cstdio>
#include <cstring>
#include <utility>
#include <vector>

namespace {

constexpr size_t kMaxOfferBytes = 64 * 1024;  // a browser's offer is a few KiB

void log_request(SoupServerMessage* msg, int status, const std::string& text) {
  std::fprintf(stderr, "tavce-serve: %s %s -> %d %s\n", soup_server_message_get_method(msg),
               g_uri_get_path(soup_server_message_get_uri(msg)), status, text.c_str());
}

// An error answer as the rest of the HTTP API gives them: the status and
// {"error": "a sentence the client can act on"}, logged too.
void respond_error(SoupServerMessage* msg, int status, const std::string& reason) {
  log_request(msg, status, reason);
  std::string body = "{\"error\": " + json_string(reason) + "}\n";
  soup_server_message_set_status(msg, status, nullptr);
  soup_server_message_set_response(msg, "application/json", SOUP_MEMORY_COPY, body.data(), body.size());
}

// The request body as collected by the early handler (the API's catch-all
// early handler turns soup's accumulation off under /avatars, so the WHEP
// routes collect their own, capped at kMaxOfferBytes).
struct OfferUpload {
  std::string body;
  bool too_large = false;
};

OfferUpload* upload_of(SoupServerMessage* msg) {
  return static_cast<OfferUpload*>(g_object_get_data(G_OBJECT(msg), "tavce-whep-upload"));
}

void collect_offer(SoupServer*, SoupServerMessage* msg, const char*, GHashTable*, gpointer) {
  SoupMessageHeaders* h = soup_server_message_get_request_headers(msg);
  if (soup_message_headers_get_encoding(h) == SOUP_ENCODING_CONTENT_LENGTH &&
      static_cast<size_t>(soup_message_headers_get_content_length(h)) > kMaxOfferBytes) {
    respond_error(msg, 413, "an SDP offer is at most " + std::to_string(kMaxOfferBytes) + " bytes");
    return;
  }
  auto* up = new OfferUpload;
  g_object_set_data_full(G_OBJECT(msg), "tavce-whep-upload", up, [](gpointer p) { delete static_cast<OfferUpload*>(p); });
  soup_message_body_set_accumulate(soup_server_message_get_request_body(msg), FALSE);
  g_signal_connect(msg, "got-chunk", G_CALLBACK(+[](SoupServerMessage* m, GBytes* chunk, gpointer) {
    OfferUpload* u = upload_of(m);
    gsize n = 0;
    const char* d = static_cast<const char*>(g_bytes_get_data(chunk, &n));
    if (!u || u->too_large) return;
    if (u->body.size() + n > kMaxOfferBytes) {
      u->too_large = true;
      std::string().swap(u->body);
      return;
    }
    u->body.append(d, n);
  }), nullptr);
}

// Constant time in the length of `expected`, so a token cannot be found byte
// by byte from response times.
bool same_secret(const std::string& given, const std::string& expected) {
  unsigned diff = given.size() != expected.size();
  for (size_t i = 0; i < expected.size(); ++i)
    diff |= static_cast<unsigned char>(expected[i]) ^ static_cast<unsigned char>(i < given.size() ? given[i] : 0);
  return diff == 0;
}

std::vector<std::string> split_path(const std::string& path) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (start <= path.size()) {
    size_t slash = path.find('/', start);
    if (slash == std::string::npos) slash = path.size();
    if (slash > start) parts.push_back(path.substr(start, slash - start));
    start = slash + 1;
  }
  return parts;
}

ViewerSource source_of(Avatar& avatar) {
  ViewerSource source;
  source.pipeline = avatar.pipeline();
  source.video_tee = avatar.video_tee();
  source.audio_tee = avatar.audio_tee();
  return source;
}

}  // namespace

// A POST whose answer is still being negotiated: the message stays paused
// (and referenced) until the viewer answers. A client that hangs up in the
// meantime is not noticed here (libsoup does not read a paused connection):
// its answer goes nowhere and the viewer, never connected, ends at the
// connect timeout.
struct WhepEndpoint::PendingAnswer {
  SoupServerMessage* msg;
  std::string location;
  std::string viewer_id;

  PendingAnswer(SoupServerMessage* m, std::string loc, std::string id)
      : msg(SOUP_SERVER_MESSAGE(g_object_ref(m))), location(std::move(loc)), viewer_id(std::move(id)) {}
  ~PendingAnswer() { g_object_unref(msg); }

  void finish(int status, const std::string& body) {
    if (status == 201) {
      log_request(msg, status, "viewer " + viewer_id);
      soup_server_message_set_status(msg, 201, nullptr);
      soup_message_headers_replace(soup_server_message_get_response_headers(msg), "Location", location.c_str());
      soup_server_message_set_response(msg, "application/sdp", SOUP_MEMORY_COPY, body.data(), body.size());
    } else {
      respond_error(msg, status, body);
    }
    soup_server_message_unpause(msg);
  }
};

WhepEndpoint::WhepEndpoint(AvatarSet& avatars, WhepOptions options)
    : avatars_(avatars), options_(std::move(options)) {
  // The first viewer would wait for what GStreamer does once per process:
  // load webrtcbin's plugins (nice, dtls, srtp, ...) and make the DTLS
  // self-signed certificate (about a second of key generation, measured).
  // Do both now, off the main thread.
  g_thread_unref(g_thread_new(
      "tavce-webrtc-warmup",
      [](gpointer) -> gpointer {
        if (GstElement* webrtc = gst_element_factory_make("webrtcbin", nullptr)) {
          gst_element_set_state(webrtc, GST_STATE_READY);
          gst_element_set_state(webrtc, GST_STATE_NULL);
          gst_object_unref(webrtc);
        }
        for (const char* factory : {"srtpenc", "srtpdec"})
          if (GstElement* e = gst_element_factory_make(factory, nullptr)) gst_object_unref(e);
        if (GstElement* dtls = gst_element_factory_make("dtlsdec", nullptr)) {
          gchar* pem = nullptr;
          g_object_get(dtls, "pem", &pem, nullptr);
          g_free(pem);
          gst_object_unref(dtls);
        }
        return nullptr;
      },
      nullptr));
}

WhepEndpoint::~WhepEndpoint() {
  for (auto& [avatar, id] : listeners_) avatar->remove_listener(id);
  // Nothing may call back into us from here on.
  auto viewers = std::move(viewers_);
  for (auto& [id, viewer] : viewers) {
    viewer->close();
    if (Avatar* a = avatars_.find(viewer->avatar_name())) --a->viewers();
  }
}

void WhepEndpoint::close_viewers_of(const std::string& avatar_name, const std::string& why) {
  std::vector<std::shared_ptr<WebRtcViewer>> ending;
  for (auto& [id, viewer] : viewers_)
    if (viewer->avatar_name() == avatar_name) ending.push_back(viewer);
  for (auto& viewer : ending) viewer->end(why);  // each forgets itself
}

void WhepEndpoint::add_avatar_routes(SoupServer* server, Avatar& avatar) {
  const std::string avatar_name = avatar.name();
  // A restart destroys the tees the viewers hang on: end them (the browser
  // reconnects to the new pipeline).
  int listener = avatar.add_listener([this, avatar_name](Avatar::Event event) {
    if (event == Avatar::Event::tearing_down) close_viewers_of(avatar_name, "the avatar's pipeline is torn down (restart or shutdown)");
  });
  listeners_.push_back({&avatar, listener});
  auto callback = [](SoupServer*, SoupServerMessage* msg, const char* path, GHashTable*, gpointer data) {
    static_cast<WhepEndpoint*>(data)->handle(msg, path);
  };
  for (const char* leaf : {"whep", "player"}) {
    std::string route = "/avatars/" + avatar_name + "/" + leaf;
    soup_server_add_early_handler(server, route.c_str(), collect_offer, nullptr, nullptr);
    soup_server_add_handler(server, route.c_str(), callback, this, nullptr);
  }
}

void WhepEndpoint::handle(SoupServerMessage* msg, const std::string& path) {
  // /avatars/NAME/player, /avatars/NAME/whep, /avatars/NAME/whep/ID
  std::vector<std::string> parts = split_path(path);
  const std::string method = soup_server_message_get_method(msg);
  if (parts.size() < 3 || parts[0] != "avatars" || parts.size() > 4 || (parts[2] != "whep" && parts[2] != "player") ||
      (parts[2] == "player" && parts.size() != 3)) {
    respond_error(msg, 404, "no such resource: " + path);
    return;
  }
  const std::string& name = parts[1];
  if (!avatars_.find(name)) {
    respond_error(msg, 404, "no avatar named '" + name + "'");
    return;
  }
  if (parts[2] == "player") {
    if (method != "GET" && method != "HEAD") {
      soup_message_headers_replace(soup_server_message_get_response_headers(msg), "Allow", "GET, HEAD");
      respond_error(msg, 405, "the player page is read with GET");
      return;
    }
    soup_server_message_set_status(msg, 200, nullptr);
    soup_server_message_set_response(msg, "text/html; charset=utf-8", SOUP_MEMORY_STATIC, kPlayerPageHtml,
                                     std::strlen(kPlayerPageHtml));
    return;
  }
  if (parts.size() == 4) {
    if (method != "DELETE") {
      soup_message_headers_replace(soup_server_message_get_response_headers(msg), "Allow", "DELETE");
      respond_error(msg, 405, "a WHEP viewer resource only supports DELETE");
      return;
    }
    delete_viewer(msg, name, parts[3]);
    return;
  }
  if (method == "POST") {
    post_offer(msg, name);
  } else if (method == "GET") {
    list_viewers(msg, name);
  } else if (method == "OPTIONS") {
    soup_message_headers_replace(soup_server_message_get_response_headers(msg), "Accept-Post", "application/sdp");
    soup_message_headers_replace(soup_server_message_get_response_headers(msg), "Allow", "GET, POST, OPTIONS");
    soup_server_message_set_status(msg, 204, nullptr);
  } else {
    soup_message_headers_replace(soup_server_message_get_response_headers(msg), "Allow", "GET, POST, OPTIONS");
    respond_error(msg, 405, "POST an SDP offer to this resource");
  }
}

bool WhepEndpoint::authorized(SoupServerMessage* msg) {
  if (options_.token.empty()) return true;
  const char* given = soup_message_headers_get_one(soup_server_message_get_request_headers(msg), "Authorization");
  if (given && same_secret(given, "Bearer " + options_.token)) return true;
  soup_message_headers_replace(soup_server_message_get_response_headers(msg), "WWW-Authenticate",
                               "Bearer realm=\"tavce-serve\"");
  respond_error(msg, 401, given ? "wrong bearer token" : "this server needs 'Authorization: Bearer <token>'");
  return false;
}

void WhepEndpoint::post_offer(SoupServerMessage* msg, const std::string& avatar_name) {
  if (!authorized(msg)) return;
  SoupMessageHeaders* headers = soup_server_message_get_request_headers(msg);
  const char* type = soup_message_headers_get_content_type(headers, nullptr);
  if (!type || g_ascii_strcasecmp(type, "application/sdp") != 0) {
    respond_error(msg, 415, std::string("the offer must be sent as Content-Type: application/sdp (got ") +
                                (type ? type : "none") + ")");
    return;
  }
  if (viewers_.size() >= options_.max_viewers) {
    soup_message_headers_replace(soup_server_message_get_response_headers(msg), "Retry-After", "10");
    respond_error(msg, 503,
                  "the server already has its maximum of " + std::to_string(options_.max_viewers) +
                      " WebRTC viewers (--max-webrtc-viewers)");
    return;
  }
  OfferUpload* up = upload_of(msg);
  if (!up || up->too_large) {
    respond_error(msg, 413, "an SDP offer is at most " + std::to_string(kMaxOfferBytes) + " bytes");
    return;
  }
  const std::string& offer_text = up->body;

  OfferedCodecs codecs;
  GstSDPMessage* offer = nullptr;
  if (auto problem = choose_offered_codecs(offer_text, codecs, &offer)) {
    respond_error(msg, problem->http_status, problem->reason);
    return;
  }
  Avatar* avatar = avatars_.find(avatar_name);
  if (avatar->state() != Avatar::State::running || !avatar->pipeline() || !avatar->video_tee()) {
    gst_sdp_message_free(offer);
    soup_message_headers_replace(soup_server_message_get_response_headers(msg), "Retry-After", "5");
    respond_error(msg, 503, "avatar '" + avatar_name + "' is not running (" + Avatar::state_name(avatar->state()) +
                                "); GET /avatars/" + avatar_name + " says why");
    return;
  }

  gchar* uuid = g_uuid_string_random();  // unguessable: the id is what lets a client DELETE
  std::string id = uuid;
  g_free(uuid);
  auto viewer = std::make_shared<WebRtcViewer>(id, avatar_name, source_of(*avatar), options_.viewer,
                                               [this](const std::string& vid, const std::string&) { forget(vid); });
  viewers_[id] = viewer;
  ++avatar->viewers();

  auto pending = std::make_shared<PendingAnswer>(msg, "/avatars/" + avatar_name + "/whep/" + id, id);
  soup_server_message_pause(msg);
  viewer->start(offer, codecs, [pending](int status, const std::string& body) { pending->finish(status, body); });
}

void WhepEndpoint::delete_viewer(SoupServerMessage* msg, const std::string& avatar_name, const std::string& id) {
  if (!authorized(msg)) return;
  auto it = viewers_.find(id);
  if (it == viewers_.end() || it->second->avatar_name() != avatar_name) {
    respond_error(msg, 404, "no WebRTC viewer " + id + " on avatar '" + avatar_name + "'");
    return;
  }
  std::shared_ptr<WebRtcViewer> viewer = it->second;
  if (viewer->state() == WebRtcViewer::State::negotiating)
    viewer->close_with_negotiation_error(410, "deleted by the client before the answer");
  else
    viewer->end("DELETE by the client");
  soup_server_message_set_status(msg, 200, nullptr);
}

void WhepEndpoint::list_viewers(SoupServerMessage* msg, const std::string& avatar_name) {
  std::string json = "{\"avatar\":\"" + avatar_name + "\",\"viewers\":[";
  bool first = true;
  for (const auto& [id, viewer] : viewers_) {
    if (viewer->avatar_name() != avatar_name) continue;
    json += std::string(first ? "" : ",") + "{\"id\":\"" + id + "\",\"state\":\"" +
            WebRtcViewer::state_name(viewer->state()) + "\"}";
    first = false;
  }
  json += "]}\n";
  soup_server_message_set_status(msg, 200, nullptr);
  soup_server_message_set_response(msg, "application/json", SOUP_MEMORY_COPY, json.data(), json.size());
}

void WhepEndpoint::forget(const std::string& id) {
  // Called from inside the viewer (its end handler): keep it alive until
  // that call returns.
  auto it = viewers_.find(id);
  if (it == viewers_.end()) return;
  auto keep = it->second;
  viewers_.erase(it);
  if (Avatar* a = avatars_.find(keep->avatar_name())) --a->viewers();
  g_idle_add_full(
      G_PRIORITY_DEFAULT_IDLE,
      [](gpointer) -> gboolean { return G_SOURCE_REMOVE; },
      new std::shared_ptr<WebRtcViewer>(std::move(keep)),
      [](gpointer d) { delete static_cast<std::shared_ptr<WebRtcViewer>*>(d); });
}

WhepEndpoint* add_whep_routes(SoupServer* server, AvatarSet& avatars, const WhepOptions& options) {
  auto* endpoint = new WhepEndpoint(avatars, options);
  g_object_set_data_full(G_OBJECT(server), "tavce-whep-endpoint", endpoint,
                         [](gpointer d) { delete static_cast<WhepEndpoint*>(d); });
  for (const auto& avatar : avatars.all()) endpoint->add_avatar_routes(server, *avatar);
  return endpoint;
}
