#!/usr/bin/env python3
"""tavce-serve's WebRTC output in a real browser: headless Chromium opens the
avatar's player page (GET /avatars/NAME/player), which negotiates over WHEP
and plays the stream; the page's own counters (window.tavceStats, read through
WebDriver) must show more than 25 decoded video frames and a received audio
track within 30 s. While it plays, offers that fail (garbage, and one that
webrtcbin refuses after its branch was hung on the avatar's tees) must not
slow it down. Leaving the page must end the viewer on the server (the page
DELETEs its WHEP resource on pagehide).

Skipped (exit 77) when chromium or chromedriver is missing: `tools/setup.sh
--tests` installs them.

Usage: test_serve_webrtc.py TAVCE_SERVE MODEL_BUNDLE PORTRAIT [SCREENSHOT.png]
"""

import json
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serve_support import FINGERPRINT, GOOD_OFFER, SKIP, Server, WebDriver, find_chromium, free_port, request  # noqa: E402

FRAMES_WANTED = 25
WAIT_S = 30


def main():
    if len(sys.argv) not in (4, 5):
        print(__doc__, file=sys.stderr)
        return 2
    serve, bundle, portrait = sys.argv[1:4]
    screenshot = sys.argv[4] if len(sys.argv) == 5 else None
    browser = find_chromium()
    if not browser:
        print("SKIP: chromium or chromedriver is not installed (tools/setup.sh --tests installs them)")
        return SKIP
    if not os.path.exists(portrait):
        print(f"SKIP: no portrait at {portrait} (set TAVCE_DATA_DIR)")
        return SKIP

    tmp = tempfile.mkdtemp(prefix="test_serve_webrtc-")
    port = free_port()
    server = Server([serve, "--avatar", f"lily:{portrait}:{bundle}", "--http-port", str(port), "--rtsp-port", "0"],
                    port, os.path.join(tmp, "serve.log"))
    driver = None
    ok = False
    try:
        server.wait_ready("/healthz", 90)
        # Something to say, so the avatar moves while the browser watches.
        request(port, "POST", "/avatars/lily/say",
                b"Hello from the talking head. This is a test of the web real time output, "
                b"played in a headless browser.", {"Content-Type": "text/plain"})
        driver = WebDriver(*browser, os.path.join(tmp, "chromedriver.log"))
        opened = time.monotonic()
        driver.open(f"http://127.0.0.1:{port}/avatars/lily/player")
        stats = {}
        while time.monotonic() - opened < WAIT_S:
            stats = driver.run("return window.tavceStats || {}") or {}
            if stats.get("error") or (stats.get("framesDecoded", 0) > FRAMES_WANTED and stats.get("audioTrack")
                                      and stats.get("audioPackets", 0) > 0):
                break
            time.sleep(0.25)
        waited = time.monotonic() - opened
        if screenshot:
            os.makedirs(os.path.dirname(os.path.abspath(screenshot)), exist_ok=True)
            driver.screenshot(screenshot)
        print(json.dumps({"frames_decoded": stats.get("framesDecoded"), "audio_track": stats.get("audioTrack"),
                          "audio_packets": stats.get("audioPackets"), "offer_sent_ms": stats.get("offerSentMs"),
                          "answered_ms": stats.get("answeredMs"),
                          "connected_ms": stats.get("connectedMs"), "first_frame_ms": stats.get("firstFrameMs"),
                          "state": stats.get("state"), "error": stats.get("error"),
                          "seconds_watched": round(waited, 2)}))
        ok = (stats.get("framesDecoded", 0) > FRAMES_WANTED and stats.get("audioTrack") is True
              and stats.get("audioPackets", 0) > 0 and not stats.get("error"))
        if not ok:
            print(f"FAIL: wanted more than {FRAMES_WANTED} decoded frames and audio within {WAIT_S} s: {stats}")

        # Failing viewers beside a playing one: it keeps decoding at the avatar's rate.
        if ok:
            before = driver.run("return window.tavceStats.framesDecoded")
            t0 = time.monotonic()
            sdp = {"Content-Type": "application/sdp"}
            request(port, "POST", "/avatars/lily/whep", b"garbage", sdp)
            refused = GOOD_OFFER.replace(f"a=fingerprint:sha-256 {FINGERPRINT}\r\n", "").encode()
            for _ in range(3):
                status, _, _ = request(port, "POST", "/avatars/lily/whep", refused, sdp)
            time.sleep(max(0.0, 2.0 - (time.monotonic() - t0)))
            after = driver.run("return window.tavceStats.framesDecoded")
            rate = (after - before) / (time.monotonic() - t0)
            print(json.dumps({"frames_per_s_beside_failing_offers": round(rate, 1)}))
            if status != 400 or rate < 10:  # 25 expected; a stall shows as ~0, a loaded CI machine as less than 25
                ok = False
                print(f"FAIL: beside failing offers (last status {status}) the page decoded {rate:.1f} frames/s")

        # Leaving the page DELETEs the viewer: none may stay on the server.
        driver.open("about:blank")
        deadline = time.monotonic() + 10
        left = None
        while time.monotonic() < deadline:
            status, _, body = request(port, "GET", "/avatars/lily/whep")
            left = json.loads(body)["viewers"] if status == 200 else None
            if left == []:
                break
            time.sleep(0.25)
        if left != []:
            ok = False
            print(f"FAIL: viewers still on the server after the page was left: {left}")
        if not server.alive():
            ok = False
            print("FAIL: the server died")
    except Exception as e:
        ok = False
        print(f"FAIL: {e!r}")
    finally:
        if driver:
            driver.quit()
        rc = server.stop()
        if not ok:
            for name in ("serve.log", "chromedriver.log"):
                path = os.path.join(tmp, name)
                if os.path.exists(path):
                    with open(path) as f:
                        print(f"--- {name} (tail)\n{f.read()[-3000:]}")
        if ok:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print(f"server exit code {rc}; logs in {tmp}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
