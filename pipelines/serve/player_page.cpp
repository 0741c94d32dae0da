#include "player_page.h"

// One self-contained file (no script or style fetched from elsewhere), so the
// page works on a machine without internet access. The WHEP resource is the
// sibling of this page: /avatars/NAME/player -> /avatars/NAME/whep.
const char* const kPlayerPageHtml = R"HTML(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>tavce avatar</title>
<style>
  body { font-family: sans-serif; background: #181818; color: #ddd; margin: 2em; }
  video { width: 512px; max-width: 100%; aspect-ratio: 1; background: #000; display: block; }
  #stats { font-family: monospace; margin-top: 0.6em; white-space: pre; }
  button { margin-top: 0.6em; }
</style>
</head>
<body>
<video id="video" autoplay playsinline></video>
<button id="unmute" hidden>Sound on</button>
<div id="stats">connecting...</div>
<script>
"use strict";
const started = performance.now();
const stats = window.tavceStats = { state: "new", framesDecoded: 0, audioTrack: false,
                                    audioPackets: 0, offerSentMs: null, answeredMs: null, connectedMs: null,
                                    firstFrameMs: null, error: null };
const video = document.getElementById("video");
const unmute = document.getElementById("unmute");
const whepUrl = location.pathname.replace(/\/player\/?$/, "/whep");
const token = new URLSearchParams(location.search).get("token");
const headers = token ? { Authorization: "Bearer " + token } : {};
let resource = null;

function show() {
  document.getElementById("stats").textContent =
    `state ${stats.state}, frames decoded ${stats.framesDecoded}, audio track ${stats.audioTrack}` +
    (stats.firstFrameMs !== null ? `, first frame after ${stats.firstFrameMs.toFixed(0)} ms` : "") +
    (stats.error ? `\nerror: ${stats.error}` : "");
}

function gatheringDone(pc, timeoutMs) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise(resolve => {
    const timer = setTimeout(resolve, timeoutMs);  // WHEP without trickle: send what we have
    pc.addEventListener("icegatheringstatechange", () => {
      if (pc.iceGatheringState === "complete") { clearTimeout(timer); resolve(); }
    });
  });
}

async function play() {
  const pc = new RTCPeerConnection();
  pc.addTransceiver("video", { direction: "recvonly" });
  pc.addTransceiver("audio", { direction: "recvonly" });
  const stream = new MediaStream();
  pc.ontrack = e => {
    stream.addTrack(e.track);
    if (e.track.kind === "audio") stats.audioTrack = true;
    video.srcObject = stream;
  };
  pc.onconnectionstatechange = () => {
    stats.state = pc.connectionState;
    if (stats.state === "connected" && stats.connectedMs === null) stats.connectedMs = performance.now() - started;
    show();
  };
  await pc.setLocalDescription(await pc.createOffer());
  await gatheringDone(pc, 2000);
  stats.offerSentMs = performance.now() - started;
  const res = await fetch(whepUrl, { method: "POST", body: pc.localDescription.sdp,
                                     headers: { ...headers, "Content-Type": "application/sdp" } });
  const body = await res.text();
  if (res.status !== 201) throw new Error(`${res.status} ${res.statusText}: ${body}`);
  resource = new URL(res.headers.get("Location"), location.href).href;
  stats.answeredMs = performance.now() - started;
  await pc.setRemoteDescription({ type: "answer", sdp: body });
  // Browsers may refuse sound without a click: then play muted and offer a button.
  video.play().catch(() => { video.muted = true; unmute.hidden = false; video.play(); });
  unmute.onclick = () => { video.muted = false; unmute.hidden = true; };
  setInterval(async () => {
    (await pc.getStats()).forEach(r => {
      if (r.type !== "inbound-rtp") return;
      if (r.kind === "video") {
        stats.framesDecoded = r.framesDecoded || 0;
        if (stats.framesDecoded > 0 && stats.firstFrameMs === null) stats.firstFrameMs = performance.now() - started;
      } else if (r.kind === "audio") {
        stats.audioPackets = r.packetsReceived || 0;
      }
    });
    show();
  }, 250);
}

// Leaving the page ends the viewer on the server at once (keepalive outlives the page).
window.addEventListener("pagehide", () => {
  if (resource) fetch(resource, { method: "DELETE", headers, keepalive: true });
});

play().catch(e => { stats.state = "failed"; stats.error = String(e.message || e); show(); });
</script>
</body>
</html>
)HTML";
