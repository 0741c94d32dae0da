#include "http_api.h"

#include <glib/gstdio.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <dirent.h>
#include <fstream>
#include <functional>
#include <sstream>
#include <vector>

#include "audio_input.h"
#include "json_text.h"
#include "portrait_check.h"
#include "tts.h"

namespace {

constexpr size_t kMaxSayChars = 5000;

// What the early handler learns about a request and the body it collects
// itself (soup's accumulation is off: a body past --max-body is counted, never kept).
struct Upload {
  std::vector<uint8_t> body;
  uint64_t received = 0;
  bool too_large = false;
  bool refused = false;   // answered early on the socket (refuse_early)
  bool finished = false;  // the client is gone or the response was sent
};

Upload* upload_of(SoupServerMessage* msg) {
  return static_cast<Upload*>(g_object_get_data(G_OBJECT(msg), "tavce-upload"));
}

void respond(SoupServerMessage* msg, int status, const std::string& json) {
  soup_server_message_set_status(msg, static_cast<guint>(status), nullptr);
  soup_server_message_set_response(msg, "application/json", SOUP_MEMORY_COPY, json.data(), json.size());
}

void respond_error(SoupServerMessage* msg, int status, const std::string& text) {
  respond(msg, status, "{\"error\": " + json_string(text) + "}\n");
}

// "/avatars/NAME/ACTION" -> NAME, ACTION ("" when absent).
bool split_path(const std::string& path, std::string& name, std::string& action) {
  const std::string prefix = "/avatars/";
  if (path.rfind(prefix, 0) != 0) return false;
  const std::string rest = path.substr(prefix.size());
  const size_t slash = rest.find('/');
  name = rest.substr(0, slash);
  action = slash == std::string::npos ? "" : rest.substr(slash + 1);
  return !name.empty();
}

bool is_publishing(const char* method, const std::string& action) {
  const bool write = !std::strcmp(method, "POST") || !std::strcmp(method, "DELETE") || !std::strcmp(method, "PUT");
  return write && (action == "speech" || action == "say" || action == "portrait" || action == "restart");
}

// Constant time, so the token cannot be guessed byte by byte from timings.
bool token_matches(const char* header, const std::string& token) {
  if (!header) return false;
  const std::string expected = "Bearer " + token;
  const size_t n = std::strlen(header);
  unsigned diff = n != expected.size();
  for (size_t i = 0; i < expected.size(); ++i) diff |= static_cast<unsigned>(expected[i] ^ (i < n ? header[i] : 0));
  return diff == 0;
}

std::string proc_status_field(const char* key) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(key, 0) == 0) {
      std::istringstream s(line.substr(std::strlen(key)));
      std::string v;
      s >> v;
      return v;
    }
  return "0";
}

int count_fds() {
  int n = 0;
  if (DIR* d = opendir("/proc/self/fd")) {
    while (readdir(d)) ++n;
    closedir(d);
    n -= 3;  // ".", ".." and the directory's own descriptor
  }
  return n;
}

}  // namespace

struct HttpApi::Impl {
  AvatarSet& avatars;
  const ServeConfig& cfg;
  HttpApi* api;
  GThreadPool* pool = nullptr;
  std::string portrait_dir;  // uploaded portraits (the renderer reads them when it switches)
  unsigned portrait_counter = 0;

  Impl(AvatarSet& a, const ServeConfig& c, HttpApi* h) : avatars(a), cfg(c), api(h) {}

  // A job for the worker pool; `finish` runs on the main context afterwards.
  struct Job {
    Impl* impl;
    SoupServerMessage* msg;
    std::function<std::function<void()>()> work;  // returns the main-context completion
  };

  static void run_job(gpointer data, gpointer) {
    auto* job = static_cast<Job*>(data);
    auto* done = new std::function<void()>(job->work());
    auto* pair = new std::pair<Job*, std::function<void()>*>(job, done);
    g_main_context_invoke(
        nullptr,
        [](gpointer p) -> gboolean {
          auto* pr = static_cast<std::pair<Job*, std::function<void()>*>*>(p);
          Upload* up = upload_of(pr->first->msg);
          if (up && !up->finished) {
            (*pr->second)();
            soup_server_message_unpause(pr->first->msg);
          }
          g_object_unref(pr->first->msg);
          delete pr->second;
          delete pr->first;
          delete pr;
          return G_SOURCE_REMOVE;
        },
        pair);
  }

  void defer(SoupServerMessage* msg, std::function<std::function<void()>()> work) {
    soup_server_message_pause(msg);
    g_object_ref(msg);
    g_thread_pool_push(pool, new Job{this, msg, std::move(work)}, nullptr);
  }

  // ---- handlers ------------------------------------------------------------

  void speech(SoupServerMessage* msg, Avatar* a, GHashTable* query, Upload& up) {
    SoupMessageHeaders* h = soup_server_message_get_request_headers(msg);
    int rate = 0, channels = 1;
    const char* q_rate = query ? static_cast<const char*>(g_hash_table_lookup(query, "rate")) : nullptr;
    const char* q_channels = query ? static_cast<const char*>(g_hash_table_lookup(query, "channels")) : nullptr;
    GHashTable* params = nullptr;
    const char* ctype = soup_message_headers_get_content_type(h, &params);
    if (q_rate) {
      rate = std::atoi(q_rate);
      if (q_channels) channels = std::atoi(q_channels);
    } else if (ctype && g_ascii_strcasecmp(ctype, "audio/L16") == 0) {
      const char* r = params ? static_cast<const char*>(g_hash_table_lookup(params, "rate")) : nullptr;
      const char* c = params ? static_cast<const char*>(g_hash_table_lookup(params, "channels")) : nullptr;
      rate = r ? std::atoi(r) : 0;
      if (c) channels = std::atoi(c);
      if (!r) {
        if (params) g_hash_table_destroy(params);
        respond_error(msg, 400, "audio/L16 needs a rate parameter (Content-Type: audio/L16;rate=16000;channels=1)");
        return;
      }
    }
    if (params) g_hash_table_destroy(params);
    auto body = std::make_shared<std::vector<uint8_t>>(std::move(up.body));
    defer(msg, [a, body, rate, channels, msg]() -> std::function<void()> {
      try {
        const PcmClip clip = rate ? raw_s16le(body->data(), body->size(), rate, channels)
                                  : parse_wav(body->data(), body->size());
        auto samples = std::make_shared<std::vector<int16_t>>(to_speech_samples(clip));
        return [a, samples, msg]() { queue_speech(msg, a, *samples); };
      } catch (const std::exception& e) {
        const std::string why = e.what();
        return [msg, why]() { respond_error(msg, 400, why); };
      }
    });
  }

  static void queue_speech(SoupServerMessage* msg, Avatar* a, const std::vector<int16_t>& samples) {
    SpeechQueue& q = a->speech();
    const double clip = static_cast<double>(samples.size()) / SpeechQueue::kRate;
    const double before = q.queued_seconds();
    if (clip > q.max_seconds()) {
      respond_error(msg, 413, "the clip lasts " + fmt(clip) + " s, more than the avatar's whole speech queue (" +
                                  fmt(q.max_seconds()) + " s, --max-queue); send it in parts");
      return;
    }
    const std::optional<uint64_t> position = q.push(samples);
    if (!position) {
      const double wait = before + clip - q.max_seconds();
      SoupMessageHeaders* rh = soup_server_message_get_response_headers(msg);
      soup_message_headers_replace(rh, "Retry-After", std::to_string(static_cast<int>(std::ceil(wait))).c_str());
      respond_error(msg, 429, "avatar '" + a->name() + "' has " + fmt(before) + " s of speech queued; this clip (" +
                                  fmt(clip) + " s) would pass the limit of " + fmt(q.max_seconds()) +
                                  " s: retry in " + fmt(wait) + " s");
      return;
    }
    g_print("avatar %s: queued %.2f s of speech (%.2f s ahead of it)\n", a->name().c_str(), clip, before);
    respond(msg, 202,
            "{\"avatar\": " + json_string(a->name()) + ", \"clip_seconds\": " + fmt(clip) +
                ", \"starts_in_seconds\": " + fmt(before) + ", \"queued_seconds\": " + fmt(before + clip) +
                // The avatar's stream time (audio and video timestamps, frames every 40 ms from 0) at
                // which the clip's first sample plays: a client can place it on the frame grid.
                ", \"starts_at_stream_seconds\": " + fmt_precise(q.stream_seconds_at(*position)) +
                // When the clip joined the queue (CLOCK_MONOTONIC, g_get_monotonic_time()): a client on the
                // same machine times the speech from here, not from a late answer (tavce-serve-latency).
                ", \"queued_at_monotonic_us\": " + std::to_string(g_get_monotonic_time()) + "}\n");
  }

  void say(SoupServerMessage* msg, Avatar* a, Upload& up) {
    std::string text(up.body.begin(), up.body.end());
    if (!g_utf8_validate(text.data(), static_cast<gssize>(text.size()), nullptr)) {
      respond_error(msg, 400, "the text is not UTF-8");
      return;
    }
    if (text.find_first_not_of(" \t\r\n") == std::string::npos) {
      respond_error(msg, 400, "no text to say: send it as the body (text/plain)");
      return;
    }
    if (g_utf8_strlen(text.c_str(), -1) > static_cast<glong>(kMaxSayChars)) {
      respond_error(msg, 413, "the text is longer than " + std::to_string(kMaxSayChars) + " characters; send it in parts");
      return;
    }
    const std::string voice = a->config().voice;
    defer(msg, [a, text, voice, msg]() -> std::function<void()> {
      try {
        auto samples = std::make_shared<std::vector<int16_t>>(to_speech_samples(synthesize_speech(text, voice)));
        return [a, samples, msg]() { queue_speech(msg, a, *samples); };
      } catch (const std::exception& e) {
        const std::string why = e.what();
        return [msg, why]() { respond_error(msg, 500, why); };
      }
    });
  }

  void portrait(SoupServerMessage* msg, Avatar* a, Upload& up) {
    if (up.body.size() < 8) {
      respond_error(msg, 400, "no image: send a PNG or JPEG portrait as the body");
      return;
    }
    const bool png = std::memcmp(up.body.data(), "\x89PNG", 4) == 0;
    const bool jpeg = up.body[0] == 0xFF && up.body[1] == 0xD8;
    if (!png && !jpeg) {
      respond_error(msg, 415, "the body is neither PNG nor JPEG");
      return;
    }
    const std::string path = portrait_dir + "/" + a->name() + "-" + std::to_string(++portrait_counter) +
                             (png ? ".png" : ".jpg");
    GError* err = nullptr;
    if (!g_file_set_contents(path.c_str(), reinterpret_cast<const gchar*>(up.body.data()),
                             static_cast<gssize>(up.body.size()), &err)) {
      respond_error(msg, 500, std::string("cannot store the portrait: ") + err->message);
      g_error_free(err);
      return;
    }
    const std::string bundle = a->config().bundle, dir = portrait_dir;
    defer(msg, [a, path, bundle, dir, msg]() -> std::function<void()> {
      const std::string why = check_portrait(path, bundle);
      return [a, path, dir, why, msg]() {
        if (!why.empty()) {
          g_unlink(path.c_str());
          respond_error(msg, 422, "this portrait cannot be animated: " + why);
          return;
        }
        const std::string old = a->portrait();
        a->set_portrait(path);
        g_print("avatar %s: portrait switched to %s\n", a->name().c_str(), path.c_str());
        // An upload the renderer has left behind is no longer needed.
        if (old.rfind(dir + "/", 0) == 0) {
          auto* p = new std::string(old);
          g_timeout_add_seconds(5, [](gpointer s) -> gboolean {
            auto* str = static_cast<std::string*>(s);
            g_unlink(str->c_str());
            delete str;
            return G_SOURCE_REMOVE;
          }, p);
        }
        respond(msg, 200, "{\"avatar\": " + json_string(a->name()) + ", \"portrait\": " + json_string(path) + "}\n");
      };
    });
  }

  std::string status_json() const {
    std::ostringstream o;
    o << "{\"avatars\": [";
    bool first = true;
    int running = 0;
    for (const auto& a : avatars.all()) {
      if (a->state() == Avatar::State::running) ++running;
      o << (first ? "" : ", ") << "\n  {\"name\": " << json_string(a->name())
        << ", \"state\": " << json_string(Avatar::state_name(a->state()))
        << ", \"portrait\": " << json_string(a->portrait())
        << ", \"bundle\": " << json_string(a->config().bundle.empty() ? "default" : a->config().bundle)
        << ", \"voice\": " << json_string(a->config().voice.empty() ? "en-us" : a->config().voice)
        << ", \"rtsp\": " << json_string("rtsp://" + cfg.bind + ":" + std::to_string(api->rtsp_port_) + "/" + a->name())
        << ", \"latency_ms\": " << fmt(a->latency() / 1e6)
        << ", \"frames_rendered\": " << a->frames_rendered()
        << ", \"fps\": " << fmt(a->recent_fps())
        << ", \"max_frame_interval_ms\": " << fmt(a->max_frame_interval_ms())
        << ", \"speaking\": " << (a->speaking() ? "true" : "false")
        << ", \"queued_seconds\": " << fmt(a->speech().queued_seconds())
        << ", \"max_queue_seconds\": " << fmt(a->speech().max_seconds())
        << ", \"speech_seconds_played\": " << a->speech_seconds_played()
        << ", \"rtp_port\": " << a->config().rtp.port
        << ", \"viewers\": " << a->viewers().load()
        << ", \"restarts\": " << a->restarts()
        << ", \"last_error\": " << json_string(a->last_error()) << "}";
      first = false;
    }
    o << "],\n \"renders\": " << running << ", \"process\": {\"rss_kb\": " << proc_status_field("VmRSS:")
      << ", \"threads\": " << proc_status_field("Threads:") << ", \"fds\": " << count_fds() << "}}\n";
    return o.str();
  }

  // ---- soup callbacks ------------------------------------------------------

  // Answers at once, on the socket, while the client may still be sending a
  // body that will never be used: the status line reaches it early (curl and
  // browsers stop sending), and the write side is closed. What the client
  // still sends is read and dropped by on_chunk, never kept.
  static void refuse_early(SoupServerMessage* msg, int status, const std::string& text) {
    Upload* up = upload_of(msg);
    if (up->refused) return;
    up->refused = true;
    respond_error(msg, status, text);  // what soup would send, should the socket still take it
    const std::string body = "{\"error\": " + json_string(text) + "}\n";
    const std::string head = "HTTP/1.1 " + std::to_string(status) + " " + soup_status_get_phrase(status) +
                             "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
                             "\r\nConnection: close\r\n\r\n";
    GSocket* sock = soup_server_message_get_socket(msg);
    if (!sock) return;
    const std::string all = head + body;
    g_socket_send(sock, all.data(), all.size(), nullptr, nullptr);  // a few hundred bytes: the send buffer takes them
    g_socket_shutdown(sock, FALSE, TRUE, nullptr);
  }

  struct ChunkCtx {
    Upload* up;
    uint64_t limit;
  };

  static void on_chunk(SoupServerMessage* msg, GBytes* chunk, gpointer p) {
    auto* c = static_cast<ChunkCtx*>(p);
    gsize n = 0;
    const auto* d = static_cast<const uint8_t*>(g_bytes_get_data(chunk, &n));
    c->up->received += n;
    if (c->up->too_large) return;
    if (c->up->received > c->limit) {
      c->up->too_large = true;
      std::vector<uint8_t>().swap(c->up->body);
      refuse_early(msg, 413, "the body passed " + std::to_string(c->limit) +
                                 " bytes (--max-body) and was not read further");
      return;
    }
    c->up->body.insert(c->up->body.end(), d, d + n);
  }

  // After the headers, before the body: refuse what must not be read.
  static void early(SoupServer*, SoupServerMessage* msg, const char* path, GHashTable*, gpointer data) {
    auto* self = static_cast<Impl*>(data);
    auto* up = new Upload;
    g_object_set_data_full(G_OBJECT(msg), "tavce-upload", up, [](gpointer p) { delete static_cast<Upload*>(p); });
    g_signal_connect(msg, "finished", G_CALLBACK(+[](SoupServerMessage* m, gpointer) {
      if (Upload* u = upload_of(m)) u->finished = true;
    }), nullptr);
    // Collect the body ourselves, up to the limit (soup would keep all of it).
    soup_message_body_set_accumulate(soup_server_message_get_request_body(msg), FALSE);
    g_signal_connect_data(msg, "got-chunk", G_CALLBACK(&Impl::on_chunk), new ChunkCtx{up, self->cfg.max_body},
                          [](gpointer p, GClosure*) { delete static_cast<ChunkCtx*>(p); }, GConnectFlags(0));

    std::string name, action;
    const char* method = soup_server_message_get_method(msg);
    if (!split_path(path, name, action)) return;
    if (is_publishing(method, action) && !self->cfg.token.empty()) {
      SoupMessageHeaders* h = soup_server_message_get_request_headers(msg);
      if (!token_matches(soup_message_headers_get_one(h, "Authorization"), self->cfg.token)) {
        soup_message_headers_replace(soup_server_message_get_response_headers(msg), "WWW-Authenticate",
                                     "Bearer realm=\"tavce-serve\"");
        respond_error(msg, 401, "this endpoint needs 'Authorization: Bearer TOKEN' (the server's --token)");
        return;
      }
    }
    if (!self->avatars.find(name)) {
      respond_error(msg, 404, "no avatar named '" + name + "' (GET /avatars lists them)");
      return;
    }
    SoupMessageHeaders* h = soup_server_message_get_request_headers(msg);
    if (soup_message_headers_get_encoding(h) == SOUP_ENCODING_CONTENT_LENGTH &&
        static_cast<uint64_t>(soup_message_headers_get_content_length(h)) > self->cfg.max_body) {
      up->too_large = true;
      refuse_early(msg, 413, "the body (" + std::to_string(soup_message_headers_get_content_length(h)) +
                                 " bytes) is larger than this server takes (--max-body " +
                                 std::to_string(self->cfg.max_body) + " bytes)");
    }
  }

  static void handle(SoupServer*, SoupServerMessage* msg, const char* path, GHashTable* query, gpointer data) {
    auto* self = static_cast<Impl*>(data);
    const std::string p = path;
    const char* method = soup_server_message_get_method(msg);
    if (p == "/healthz") {
      int running = 0;
      for (const auto& a : self->avatars.all()) running += a->state() == Avatar::State::running;
      respond(msg, running > 0 ? 200 : 503,
              "{\"status\": " + json_string(running > 0 ? "ok" : "no avatar running") + ", \"running\": " +
                  std::to_string(running) + ", \"avatars\": " + std::to_string(self->avatars.all().size()) + "}\n");
      return;
    }
    if (p == "/avatars" || p == "/avatars/") {
      if (std::strcmp(method, "GET") != 0) {
        respond_error(msg, 405, "GET /avatars only");
        return;
      }
      respond(msg, 200, self->status_json());
      return;
    }
    std::string name, action;
    if (!split_path(p, name, action)) {
      respond_error(msg, 404, "no such endpoint: " + p + " (see docs/serving.md)");
      return;
    }
    Avatar* a = self->avatars.find(name);
    Upload* up = upload_of(msg);
    if (!a || !up) {
      respond_error(msg, 404, "no avatar named '" + name + "' (GET /avatars lists them)");
      return;
    }
    if (up->too_large) {
      respond_error(msg, 413, "the body passed " + std::to_string(self->cfg.max_body) +
                                  " bytes (--max-body) and was not read further");
      return;
    }
    const bool post = std::strcmp(method, "POST") == 0;
    if (action == "speech" && post) return self->speech(msg, a, query, *up);
    if (action == "speech" && std::strcmp(method, "DELETE") == 0) {
      const double dropped = a->speech().queued_seconds();
      a->speech().clear();
      respond(msg, 200, "{\"avatar\": " + json_string(name) + ", \"dropped_seconds\": " + fmt(dropped) + "}\n");
      return;
    }
    if (action == "say" && post) return self->say(msg, a, *up);
    if (action == "portrait" && post) return self->portrait(msg, a, *up);
    if (action == "restart" && post) {
      if (!a->request_restart("POST /avatars/" + name + "/restart"))
        return respond_error(msg, 409, std::string("avatar '") + name + "' is " + Avatar::state_name(a->state()) +
                                           ", not running: nothing to restart");
      respond(msg, 202, "{\"avatar\": " + json_string(name) + ", \"state\": \"restarting\"}\n");
      return;
    }
    if (action.empty() && std::strcmp(method, "GET") == 0) {
      respond(msg, 200, self->status_json());
      return;
    }
    respond_error(msg, action == "speech" || action == "say" || action == "portrait" || action == "restart" ? 405 : 404,
                  method + std::string(" /avatars/") + name + "/" + action +
                      " is not an endpoint (POST speech, say, portrait, restart; DELETE speech)");
  }
};

HttpApi::HttpApi(AvatarSet& avatars, const ServeConfig& cfg) : impl_(new Impl(avatars, cfg, this)) {}

HttpApi::~HttpApi() {
  if (server_) {
    soup_server_disconnect(server_);
    g_object_unref(server_);
  }
  if (impl_->pool) g_thread_pool_free(impl_->pool, TRUE, TRUE);
  if (!impl_->portrait_dir.empty()) {
    if (GDir* d = g_dir_open(impl_->portrait_dir.c_str(), 0, nullptr)) {
      while (const char* f = g_dir_read_name(d)) g_unlink((impl_->portrait_dir + "/" + f).c_str());
      g_dir_close(d);
    }
    g_rmdir(impl_->portrait_dir.c_str());
  }
  delete impl_;
}

bool HttpApi::start(std::string& error) {
  GError* err = nullptr;
  gchar* dir = g_dir_make_tmp("tavce-serve-XXXXXX", &err);
  if (!dir) {
    error = std::string("cannot make a folder for uploaded portraits: ") + err->message;
    g_error_free(err);
    return false;
  }
  impl_->portrait_dir = dir;
  g_free(dir);
  // Two workers: decoding and synthesis are short; more would compete with the renders.
  impl_->pool = g_thread_pool_new(&Impl::run_job, nullptr, 2, FALSE, nullptr);

  server_ = soup_server_new("server-header", "tavce-serve ", nullptr);
  // One request per connection: libsoup 3.2 (Debian 12) never closes an idle
  // keep-alive connection that the client closed, so every request would
  // leave a socket in CLOSE_WAIT (measured: one fd per request, for good).
  // With "Connection: close" soup closes its end after each response.
  g_signal_connect(server_, "request-started", G_CALLBACK(+[](SoupServer*, SoupServerMessage* msg, gpointer) {
    soup_message_headers_replace(soup_server_message_get_response_headers(msg), "Connection", "close");
  }), nullptr);
  // Early and normal handlers pair up per path: /avatars needs both.
  soup_server_add_early_handler(server_, "/avatars", &Impl::early, impl_, nullptr);
  soup_server_add_handler(server_, "/avatars", &Impl::handle, impl_, nullptr);
  soup_server_add_handler(server_, nullptr, &Impl::handle, impl_, nullptr);

  GInetAddress* addr = g_inet_address_new_from_string(impl_->cfg.bind.c_str());
  if (!addr) {
    error = "--bind '" + impl_->cfg.bind + "' is not an IP address";
    return false;
  }
  GSocketAddress* sa = g_inet_socket_address_new(addr, static_cast<guint16>(impl_->cfg.http_port));
  g_object_unref(addr);
  const gboolean ok = soup_server_listen(server_, sa, static_cast<SoupServerListenOptions>(0), &err);
  g_object_unref(sa);
  if (!ok) {
    error = "cannot listen for HTTP on " + impl_->cfg.bind + ":" + std::to_string(impl_->cfg.http_port) + ": " +
            err->message + " (another server on that port? --http-port)";
    g_error_free(err);
    return false;
  }
  GSList* uris = soup_server_get_uris(server_);
  if (uris) port_ = g_uri_get_port(static_cast<GUri*>(uris->data));
  g_slist_free_full(uris, reinterpret_cast<GDestroyNotify>(g_uri_unref));
  return true;
}
