// tavce-eval render: self-reenactment scoring of a lite bundle (docs/evaluation.md).
//
//   tavce-eval render --model BUNDLE --video-dir DIR --clips PATTERNS [--every N]
//                     [--baseline static|energy|real] [--syncnet BUNDLE] [--threads N] [--save-frames DIR] [--max-frames N] --out OUT
//
// For every clip under DIR matching PATTERNS ("set/clip", "set/prefix*",
// comma-separated; every Nth of the sorted matches with --every N) the clip's
// first frame is the portrait and its own audio drives the library sessions
// (Audio2CoeffSession -> RendererSession, preprocess=full so frames keep the
// video's coordinates, blinks and head sway off so only the mouth is judged).
// The rendered frames are then measured like the real ones: dlib landmarks
// found again on them (never the renderer's own points), mouth distance and
// opening against the real frames' landmarks, opening against audio energy,
// lip closure on /p b m/ where a .align file lies beside the clip, SyncNet
// LSE-D/LSE-C/offset (the scorer's code, models/syncnet by default) and
// PSNR/SSIM of the face outside the mouth. Baselines go through the same
// code: static (the rest row: the first frame, unchanged), energy
// (energy_baseline.h), real (the real frames themselves: the ceiling).
// Writes OUT/clips.jsonl (one line per clip) and OUT/summary.json; --save-frames DIR also
// writes the measured frames as DIR/set/clip/NNNNN.png (tools/eval-side-by-side.sh).
#pragma once

#include "common/cli.h"

namespace tavce::tools {

int eval_render(const Args& args);

}  // namespace tavce::tools
