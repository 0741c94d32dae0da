// `tavce-serve-latency serve`: speech pushed to a running tavce-serve over
// HTTP, watched through its RTSP stream, one utterance at a time at random
// intervals. Definitions (also in docs/serving.md, "Latency"):
//
//  t0       the moment the server queued the clip (the 202 answer's
//           queued_at_monotonic_us, the server's CLOCK_MONOTONIC on this same
//           machine; else the moment the 202 arrives, the request's round trip
//           reported beside it), plus the answer's starts_in_seconds (0 when
//           nothing was queued), plus the clip's own silent lead: its first
//           10 ms window at or above the audio threshold once Opus-coded as
//           the stream carries it (offline, the same encoder settings), i.e.
//           when the speech itself was accepted;
//  t_audio  arrival at the client (decoded) of the first 10 ms window of
//           audio at or above the threshold, among what arrived after the
//           request was sent;
//  t_video  arrival at the client (decoded) of the first of 2 consecutive
//           frames whose mouth box differs from the idle mouth by more than
//           the idle threshold (onset.h), learnt on the frames of the last
//           0.8 s before the push; one frame alone may be a key frame's
//           coding change;
//  play-out the same events at the time a synchronised sink of the client
//           would present them (base time + running time + client latency);
//  A/V      video onset minus audio onset in play-out time, in 40 ms frames
//           (av_offset_frames). The mouth starts moving before the sound
//           (the audio network looks ahead), so the same clip is also rendered
//           offline through the same elements and detector (2 s of silence,
//           then the clip), starting at each of 8 phases of the 40 ms frame
//           grid; the lead at the phase the server gives for the live clip
//           (starts_at_stream_seconds) is subtracted, and what is left is what
//           the stream's timing adds (av_offset_stream_frames), split into
//           whole frames and the rest (av_offset_stream_split, stats.h).
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace serve_latency {

struct ServeOptions {
  std::string http = "http://127.0.0.1:8080";
  std::string rtsp;             // default: rtsp://127.0.0.1:8554/AVATAR
  std::string avatar;           // required
  std::string token;            // Authorization: Bearer, when the server asks for one
  std::vector<std::string> speech;  // WAV files (PCM 16-bit); empty = espeak-ng sentences
  int utterances = 20;          // stop after this many ...
  double minutes = 0;           // ... or, when > 0, after this long
  double min_gap = 1.5, max_gap = 4.0;  // idle seconds before each push
  unsigned seed = 1;
  unsigned client_latency_ms = 0;  // rtspsrc latency
  // rtspsrc buffer-mode: how the client times what arrives. "auto" (GStreamer's
  // default: slave, the receiver's timing follows the arrivals with skew
  // correction) or "none" (RTP timestamps only, as players that sync from
  // RTP time and sender reports do).
  std::string client_buffer_mode = "auto";
  double audio_threshold_dbfs = -55;  // the idle stream is digital silence; low = sharp onsets, insensitive to gain
  double video_margin = 1.5, video_floor = 2.0;
  int max_shift = 3;            // pixels of head sway compensated in the mouth comparison
  int video_frames = 2;         // consecutive frames above the threshold that make an onset
  std::string mouth_box;        // "x0,y0,x1,y1" in fractions of the frame; empty = dlib on the first frame
  std::string trace;            // JSON lines, one per utterance (and per --sample-every), when set
};

// Runs the measurement; throws std::runtime_error with a sentence when the
// server cannot be reached or the stream does not start.
nlohmann::json run_serve_latency(const ServeOptions& opt);

}  // namespace serve_latency
