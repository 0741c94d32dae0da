// Reference motion for SadTalker's --ref_pose and --ref_eyeblink: the 3DMM
// coefficients of every frame of a reference video (or a coefficient file
// saved earlier), from which the audio stage takes the relative head pose or
// the per-frame expression (eye blinks).
#pragma once

#include <string>
#include <vector>

namespace tavce::pipeline {

class LoadedBundle;

// Rows of 70 coefficients (exp 64 | angle 3 | trans 3), one per frame.
//  - A raw little-endian float32 file (*.coeffs, *.f32: rows of 70 or 73
//    values, what tavceaudio2coeff's output or a filesink dump holds) is read
//    as is.
//  - Anything else is opened as a video (OpenCV): every frame goes through
//    the same source preparation as a portrait (dlib landmarks, `preprocess`
//    crop, alignment) and the bundle's `recon` network. A frame without a
//    face repeats the previous frame's row, as the reference reuses the
//    previous landmarks; a video with no face at all is an error.
std::vector<std::vector<float>> reference_coefficients(const std::string& path, LoadedBundle& models,
                                                       const std::string& preprocess);

}  // namespace tavce::pipeline
