"""Shared by the tavce-serve tests: free ports, starting the server and
waiting for its HTTP port, a WHEP offer written by hand in a browser's shape,
and a tiny WebDriver client (chromedriver speaks the W3C WebDriver HTTP
protocol, so the standard library is enough).

Python standard library only.
"""

import base64
import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import time

SKIP = 77  # meson's exit code for a skipped test

FINGERPRINT = ":".join(["AB"] * 32)


def offer(video_formats, audio=True, video_direction="recvonly"):
    """An offer like a browser's: BUNDLE, ICE credentials, DTLS fingerprint."""
    lines = ["v=0", "o=- 4611731400430051336 2 IN IP4 127.0.0.1", "s=-", "t=0 0",
             "a=group:BUNDLE 0" + (" 1" if audio else ""), "a=msid-semantic: WMS"]

    def media(kind, mid, formats, direction):
        pts = " ".join(str(pt) for pt, _, _ in formats)
        out = [f"m={kind} 9 UDP/TLS/RTP/SAVPF {pts}", "c=IN IP4 0.0.0.0", "a=rtcp:9 IN IP4 0.0.0.0",
               "a=ice-ufrag:Xy7q", "a=ice-pwd:0123456789abcdefghijklmn", "a=ice-options:trickle",
               f"a=fingerprint:sha-256 {FINGERPRINT}", "a=setup:actpass", f"a=mid:{mid}", f"a={direction}",
               "a=rtcp-mux"]
        for pt, rtpmap, fmtp in formats:
            out.append(f"a=rtpmap:{pt} {rtpmap}")
            if fmtp:
                out.append(f"a=fmtp:{pt} {fmtp}")
        return out

    lines += media("video", 0, video_formats, video_direction)
    if audio:
        lines += media("audio", 1, [(111, "opus/48000/2", "minptime=10;useinbandfec=1")], "recvonly")
    return "\r\n".join(lines) + "\r\n"


BROWSER_VIDEO = [(96, "VP8/90000", None),
                 (102, "H264/90000", "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f"),
                 (106, "H264/90000", "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"),
                 (108, "H264/90000", "level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42e01f")]
GOOD_OFFER = offer(BROWSER_VIDEO)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request(port, method, path, body=None, headers=None, timeout=15):
    """One HTTP request to 127.0.0.1:port; returns (status, headers, body text)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        res = conn.getresponse()
        return res.status, dict(res.getheaders()), res.read().decode("utf-8", "replace")
    finally:
        conn.close()


class Server:
    """tavce-serve (or any command taking the same role) in its own process
    group, stopped by stop() even if the test fails."""

    def __init__(self, argv, http_port, log_path, env=None):
        self.http_port = http_port
        self.log = open(log_path, "w")
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT, env=env,
                                     start_new_session=True)

    def wait_ready(self, path, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited with {self.proc.returncode} before answering")
            try:
                status, _, _ = request(self.http_port, "GET", path, timeout=2)
                if status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"the server did not answer GET {path} within {timeout} s")

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        end_process(self.proc)
        self.log.close()
        return self.proc.returncode



def end_process(proc):
    """Ends a child we started: SIGTERM, up to 10 s to exit, then SIGKILL."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

def find_chromium():
    """(browser, driver) paths, or None when either is not installed."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    driver = shutil.which("chromedriver")
    if not browser or not driver:
        return None
    return browser, driver


class WebDriver:
    """A headless Chromium session through chromedriver."""

    def __init__(self, browser, driver, log_path, extra_args=()):
        self.port = free_port()
        self.log = open(log_path, "w")
        self.proc = subprocess.Popen([driver, f"--port={self.port}"], stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        self.session = None
        deadline = time.monotonic() + 20
        while True:
            try:
                if self._call("GET", "/status")["value"].get("ready"):
                    break
            except OSError:
                pass
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError("chromedriver did not start")
            time.sleep(0.2)
        args = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--use-fake-ui-for-media-stream", "--autoplay-policy=no-user-gesture-required",
                "--window-size=800,800"] + list(extra_args)
        caps = {"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": browser, "args": args}}}}
        self.session = self._call("POST", "/session", caps, timeout=60)["value"]["sessionId"]

    def _call(self, method, path, body=None, timeout=30):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            data = json.dumps(body) if body is not None else None
            conn.request(method, path, body=data, headers={"Content-Type": "application/json"})
            res = conn.getresponse()
            reply = json.loads(res.read() or b"{}")
            if res.status != 200:
                raise RuntimeError(f"WebDriver {method} {path}: {res.status} {reply}")
            return reply
        finally:
            conn.close()

    def open(self, url):
        self._call("POST", f"/session/{self.session}/url", {"url": url}, timeout=60)

    def run(self, script, *args):
        return self._call("POST", f"/session/{self.session}/execute/sync",
                          {"script": script, "args": list(args)})["value"]

    def screenshot(self, path):
        png = base64.b64decode(self._call("GET", f"/session/{self.session}/screenshot")["value"])
        with open(path, "wb") as f:
            f.write(png)

    def quit(self):
        try:
            if self.session:
                self._call("DELETE", f"/session/{self.session}", timeout=20)
        except (OSError, RuntimeError) as e:
            print(f"closing the browser session: {e}", file=sys.stderr)
        finally:
            end_process(self.proc)
            self.log.close()
