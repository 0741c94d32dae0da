// WebRTC viewing over HTTP, WHEP style (one SDP offer POSTed, one answer back,
// no trickle), on tavce-serve's libsoup server:
//   POST   /avatars/NAME/whep      Content-Type: application/sdp -> 201 Created,
//                                  body = answer, Location: /avatars/NAME/whep/ID
//   DELETE /avatars/NAME/whep/ID   ends that viewer
//   GET    /avatars/NAME/whep      the viewers of NAME as JSON (id, state)
//   GET    /avatars/NAME/player    the HTML page that plays NAME in a browser
// Every answer is asynchronous (the message is paused while webrtcbin
// negotiates), so the main loop never blocks on a viewer.
#pragma once

#include "webrtc_viewer.h"

#include <libsoup/soup.h>

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

class Avatar;
class AvatarSet;

struct WhepOptions {
  WebRtcViewerConfig viewer;
  // Viewers over all avatars at once; the next POST gets 503.
  unsigned max_viewers = 16;
  // When set, POST and DELETE need "Authorization: Bearer <token>" (401 otherwise).
  std::string token;
};

class WhepEndpoint {
 public:
  WhepEndpoint(AvatarSet& avatars, WhepOptions options);
  ~WhepEndpoint();  // closes every viewer
  WhepEndpoint(const WhepEndpoint&) = delete;
  WhepEndpoint& operator=(const WhepEndpoint&) = delete;

  // Serves /avatars/NAME/whep[/ID] and /avatars/NAME/player on `server`, and
  // ends NAME's viewers when its pipeline restarts.
  void add_avatar_routes(SoupServer* server, Avatar& avatar);

  // Handles one request whose path is under /avatars/NAME/{whep,player}.
  void handle(SoupServerMessage* msg, const std::string& path);

  size_t viewer_count() const { return viewers_.size(); }

 private:
  struct PendingAnswer;

  void post_offer(SoupServerMessage* msg, const std::string& avatar_name);
  void delete_viewer(SoupServerMessage* msg, const std::string& avatar_name, const std::string& id);
  void list_viewers(SoupServerMessage* msg, const std::string& avatar_name);
  bool authorized(SoupServerMessage* msg);
  void forget(const std::string& id);
  void close_viewers_of(const std::string& avatar_name, const std::string& why);

  AvatarSet& avatars_;
  WhepOptions options_;
  std::map<std::string, std::shared_ptr<WebRtcViewer>> viewers_;  // by id
  std::vector<std::pair<Avatar*, int>> listeners_;                 // restart listeners to remove
};

// Creates the endpoint for every avatar of `avatars`; it lives as long as
// `server` (attached to it) and closes its viewers when the server goes.
WhepEndpoint* add_whep_routes(SoupServer* server, AvatarSet& avatars, const WhepOptions& options);
