// The minimal HTML page served at GET /avatars/NAME/player: a <video> and a
// plain-JavaScript WHEP client (recvonly video + audio, offer POSTed to
// ./whep once ICE gathering is done, answer set). It keeps its measurements on
// window.tavceStats (framesDecoded, audioTrack, audioPackets, offerSentMs, answeredMs,
// connectedMs, firstFrameMs since the page started, state, error) so
// a test driving a browser can read them; ?token=T adds a bearer token.
#pragma once

extern const char* const kPlayerPageHtml;
