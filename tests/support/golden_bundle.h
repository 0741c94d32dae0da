// Model bundles made of the golden test weights (random networks with the
// reference architectures, ../shared/golden), for tests of the sessions and
// elements that load models only from bundles.
//
// Each function creates a fresh temporary directory, copies the golden weight
// files into it, and writes a valid model.json (tavce::models::write_bundle,
// files described with describe_file, so verify_bundle passes). The caller
// removes the directory with remove_bundle_dir. The golden folder is taken
// from $TAVCE_GOLDEN_DIR (meson test sets it); every failure throws
// tavce::Error naming the file.
//
// No Check here: include <check.h> after this header.
#pragma once

#include <string>

namespace tavce::testing {

// $TAVCE_GOLDEN_DIR, else ../shared/golden (defined in layout_check.cpp).
std::string golden_dir();

// A bundle for the audio -> coefficient stage (tavceaudio2coeff,
// Audio2CoeffSession): modules
//   expnet    <- golden/audio2exp/weights.safetensors   (as expnet.safetensors)
//   pose_vae  <- golden/audio2pose/weights.safetensors  (as pose_vae.safetensors;
//                inference keys only, so training_parts = false)
// and, with with_recon, recon <- golden/face3d_recon/weights.safetensors
// (48 MB; only needed to reconstruct coefficients from a portrait).
// coefficient_space bfm-exp64-pose6, SadTalker's audio front end, 25 fps.
std::string make_golden_audio2coeff_bundle(bool with_recon = false);

// A bundle for the renderer (tavcerenderer, RendererSession): modules
//   mapping      <- golden/mapping/weights.safetensors      (coeff_nc 70, full size)
//   mapping_full <- golden/mapping/weights_c73.safetensors  (coeff_nc 73, descriptor_nc 128)
//   kp_detector  <- golden/kp_detector/weights.safetensors  (reduced config of its case.json, 128 px)
//   generator    <- golden/generator/weights.safetensors    (reduced config of its case.json, 128 px)
// and, with with_recon, recon as above. Configs are those of the case.json
// files, through the nn from_json / models::to_json round trip.
std::string make_golden_renderer_bundle(bool with_recon = false);

// A bundle for the lip-sync metric (tavcesyncscore, SyncScoreSession): module
//   syncnet <- golden/syncnet/weights.safetensors (syncnet_python S at full
//              size, num_layers_in_fc_layers from its case.json config)
// Random weights: the scores it gives are arbitrary but deterministic.
std::string make_golden_syncnet_bundle();

// Deletes a directory made by the functions above (and everything in it).
void remove_bundle_dir(const std::string& dir);

}  // namespace tavce::testing
