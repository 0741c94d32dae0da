#!/usr/bin/env python3
"""tavce-serve's WHEP endpoint against bad and awkward clients, without a
browser: malformed SDP, offers without video or without H.264, the wrong
Content-Type, an unknown avatar, a missing or wrong viewer token, the viewer
cap, a client that POSTs and never connects, one that hangs up before the
answer, DELETE. After all of it the server must still be running and its
avatar still rendering.

The offer below is written by hand in the shape a browser sends (recvonly
video with VP8 and two H.264 entries, recvonly Opus audio), so the answer can
be checked against what we know we asked for: the constrained-baseline H.264
payload type, Opus's, sendonly, and host candidates on 127.0.0.1 only.

Usage: test_serve_whep.py TAVCE_SERVE MODEL_BUNDLE PORTRAIT
(meson passes these; PORTRAIT comes from $TAVCE_DATA_DIR/image).
"""

import json
import os
import socket
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serve_support import BROWSER_VIDEO, FINGERPRINT, GOOD_OFFER, SKIP, Server, free_port, offer, request  # noqa: E402

failures = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what, flush=True)
    if not ok:
        failures.append(what)


def post(port, path, body, token="secret", content_type="application/sdp"):
    headers = {"Content-Type": content_type}
    if token:
        headers["Authorization"] = "Bearer " + token
    return request(port, "POST", path, body.encode(), headers)


def viewers(port):
    status, _, body = request(port, "GET", "/avatars/lily/whep")
    return json.loads(body)["viewers"] if status == 200 else None


def error_text(body):
    try:
        return json.loads(body)["error"]
    except (ValueError, KeyError):
        return ""


def main():
    if len(sys.argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    serve, bundle, portrait = sys.argv[1:4]
    if not os.path.exists(portrait):
        print(f"SKIP: no portrait at {portrait} (set TAVCE_DATA_DIR)")
        return SKIP
    port = free_port()
    log = os.path.join(tempfile.gettempdir(), f"test_serve_whep-{os.getpid()}.log")
    server = Server([serve, "--avatar", f"lily:{portrait}:{bundle}", "--http-port", str(port), "--rtsp-port", "0",
                     "--max-webrtc-viewers", "2", "--viewer-token", "secret", "--webrtc-connect-timeout", "3"],
                    port, log)
    try:
        server.wait_ready("/healthz", 90)
        path = "/avatars/lily/whep"

        status, _, body = post(port, path, "this is not SDP")
        check(status == 400 and "v=0" in error_text(body), f"garbage body -> 400 naming the problem ({status} {body!r})")

        status, _, body = post(port, path, "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n")
        check(status == 400 and "m-line" in error_text(body), f"SDP without media -> 400 ({status} {body!r})")

        audio_only = GOOD_OFFER.split("m=video")[0] + "m=audio" + GOOD_OFFER.split("m=audio")[1]
        status, _, body = post(port, path, audio_only)
        check(status == 400 and "video" in error_text(body), f"offer without video -> 400 ({status} {body!r})")

        status, _, body = post(port, path, offer([(96, "VP8/90000", None), (98, "VP9/90000", None)]))
        check(status == 406 and "H.264" in error_text(body) and "VP8" in error_text(body),
              f"offer without H.264 -> 406 listing what was offered ({status} {body!r})")

        status, _, body = post(port, path, offer(BROWSER_VIDEO, video_direction="sendonly"))
        check(status == 400 and "recvonly" in error_text(body), f"sendonly video -> 400 ({status} {body!r})")

        broken = GOOD_OFFER.replace(f"a=fingerprint:sha-256 {FINGERPRINT}\r\n", "")
        status, _, body = post(port, path, broken)
        check(status == 400 and error_text(body), f"offer without DTLS fingerprint -> 400 from webrtcbin ({status} {body!r})")

        status, _, body = post(port, path, GOOD_OFFER, content_type="text/plain")
        check(status == 415, f"wrong Content-Type -> 415 ({status} {body!r})")

        status, _, body = post(port, "/avatars/nobody/whep", GOOD_OFFER)
        check(status == 404, f"unknown avatar -> 404 ({status} {body!r})")

        status, headers, body = post(port, path, GOOD_OFFER, token=None)
        check(status == 401 and "Bearer" in headers.get("WWW-Authenticate", ""), f"no token -> 401 ({status})")
        status, _, body = post(port, path, GOOD_OFFER, token="guess")
        check(status == 401, f"wrong token -> 401 ({status} {body!r})")
        check(viewers(port) == [], "no viewer left behind by the refused offers")

        # A good offer: the answer must say what we asked for.
        t0 = time.monotonic()
        status, headers, answer = post(port, path, GOOD_OFFER)
        answer_ms = (time.monotonic() - t0) * 1000
        check(status == 201, f"good offer -> 201 ({status} {answer[:200]!r})")
        location = headers.get("Location", "")
        check(location.startswith(path + "/"), f"Location names the viewer ({location!r})")
        check(headers.get("Content-Type", "").startswith("application/sdp"), "answer is application/sdp")
        video_part = answer.split("m=audio")[0]
        check("m=video 9 UDP/TLS/RTP/SAVPF 106" in video_part and "a=rtpmap:106 H264/90000" in video_part,
              "answer sends H.264 on the offer's constrained-baseline payload type 106")
        check("a=fmtp:106 " in video_part and "profile-level-id=42e01f" in video_part,
              "the answer's H.264 fmtp names that entry's profile-level-id 42e01f")
        check("A=RTPMAP:111 OPUS/48000/2" in answer.upper(),
              "answer sends Opus on the offer's payload type 111")
        check(answer.count("a=sendonly") == 2, "both m-lines sendonly")
        candidates = [l for l in answer.splitlines() if l.startswith("a=candidate:")]
        check(candidates and all(" 127.0.0.1 " in c for c in candidates),
              f"host candidates on 127.0.0.1 only ({len(candidates)}: {candidates[:2]})")
        print(f"answer after {answer_ms:.0f} ms", flush=True)
        vs = viewers(port)
        check(vs is not None and len(vs) == 1 and vs[0]["state"] == "answered", f"one viewer, answered ({vs})")

        # This client never connects (no ICE, no DTLS): it must go by itself.
        deadline = time.monotonic() + 10
        while viewers(port) and time.monotonic() < deadline:
            time.sleep(0.25)
        check(viewers(port) == [], "a viewer that never connects is removed after --webrtc-connect-timeout")

        # The cap: two viewers, the third gets 503.
        s1, h1, _ = post(port, path, GOOD_OFFER)
        s2, h2, _ = post(port, path, GOOD_OFFER)
        s3, h3, b3 = post(port, path, GOOD_OFFER)
        check((s1, s2, s3) == (201, 201, 503) and "max-webrtc-viewers" in error_text(b3),
              f"--max-webrtc-viewers 2: third offer -> 503 ({s1} {s2} {s3} {b3!r})")

        # DELETE: without the token, of an unknown id, then for real.
        auth = {"Authorization": "Bearer secret"}
        status, _, _ = request(port, "DELETE", h1["Location"])
        check(status == 401, f"DELETE without the token -> 401 ({status})")
        status, _, _ = request(port, "DELETE", path + "/no-such-viewer", headers=auth)
        check(status == 404, f"DELETE of an unknown viewer -> 404 ({status})")
        status, _, _ = request(port, "DELETE", h1["Location"], headers=auth)
        check(status == 200, f"DELETE of a viewer -> 200 ({status})")
        status, _, _ = request(port, "DELETE", h1["Location"], headers=auth)
        check(status == 404, f"second DELETE -> 404 ({status})")
        request(port, "DELETE", h2["Location"], headers=auth)
        check(viewers(port) == [], "no viewer left after DELETE")

        # A client that sends its offer and hangs up before the answer.
        body = GOOD_OFFER.encode()
        for _ in range(2):  # the cap
            with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                s.sendall((f"POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer secret\r\n"
                           f"Content-Type: application/sdp\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body)
        deadline = time.monotonic() + 10
        while viewers(port) and time.monotonic() < deadline:
            time.sleep(0.25)
        check(viewers(port) == [], "clients that hang up mid-handshake leave no viewer")

        # A body far beyond any offer is refused before it is read.
        status, _, body = post(port, path, "v=0\r\n" + "a=x\r\n" * 20000)
        check(status == 413, f"oversized offer -> 413 ({status})")

        # Still serving: alive, healthy and rendering.
        check(server.alive(), "the server is still running")
        def avatar():
            status, _, body = request(port, "GET", "/avatars/lily")
            return json.loads(body)["avatars"][0] if status == 200 else {}
        before = avatar()
        time.sleep(1.0)
        after = avatar()
        check(after.get("frames_rendered", 0) > before.get("frames_rendered", 0),
              f"the avatar still renders ({before.get('frames_rendered')} -> {after.get('frames_rendered')} frames)")
        check(after.get("restarts") == 0 and after.get("state") == "running",
              f"no viewer's trouble restarted the avatar (restarts {after.get('restarts')}, {after.get('state')})")
        check(after.get("viewers") == 0, f"the avatar counts no viewer left ({after.get('viewers')})")
    except Exception as e:  # a crash of the server shows up here too
        failures.append(repr(e))
        print(f"FAIL {e!r}")
    finally:
        rc = server.stop()
        print(f"server exit code {rc}")
        if failures:
            with open(log) as f:
                print(f.read()[-4000:])
        os.remove(log)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
