// The --preprocess modes of SadTalker (reference-architecture §1.2): how the
// portrait is cut before it becomes the renderer's source picture.
#pragma once

#include <string>

namespace tavce::face {

enum class Preprocess {
  Crop,     // tight crop to the box of the FFHQ alignment quad (the default)
  ExtCrop,  // the quad box plus its border, no quad cut
  Resize,   // no crop: the whole image squashed to size x size (needs no face)
  Full,     // as Crop, the result is pasted back into the original image
  ExtFull,  // as ExtCrop, pasted back into the original image
};

// "crop", "extcrop", "resize", "full", "extfull" (case-sensitive, as the CLI
// spells them). Anything else throws tavce::Error listing the valid names.
Preprocess parse_preprocess(const std::string& name);
const char* to_string(Preprocess mode);

// The crop of the extended ("ext") modes keeps the whole crop region and skips
// the quad cut (SadTalker passes still=True to Preprocesser.crop for them).
inline bool is_extended(Preprocess m) { return m == Preprocess::ExtCrop || m == Preprocess::ExtFull; }
// Modes whose crop is located by landmarks (everything except Resize).
inline bool needs_face(Preprocess m) { return m != Preprocess::Resize; }
// Modes whose generated frames are pasted back into the original image.
inline bool is_full(Preprocess m) { return m == Preprocess::Full || m == Preprocess::ExtFull; }

}  // namespace tavce::face
