#include "tavce/face/preprocess_mode.h"

#include "tavce/error.h"

namespace tavce::face {

Preprocess parse_preprocess(const std::string& name) {
  if (name == "crop") return Preprocess::Crop;
  if (name == "extcrop") return Preprocess::ExtCrop;
  if (name == "resize") return Preprocess::Resize;
  if (name == "full") return Preprocess::Full;
  if (name == "extfull") return Preprocess::ExtFull;
  throw Error("unknown preprocess mode '" + name + "' (expected crop, extcrop, resize, full or extfull)");
}

const char* to_string(Preprocess mode) {
  switch (mode) {
    case Preprocess::Crop: return "crop";
    case Preprocess::ExtCrop: return "extcrop";
    case Preprocess::Resize: return "resize";
    case Preprocess::Full: return "full";
    case Preprocess::ExtFull: return "extfull";
  }
  return "?";
}

}  // namespace tavce::face
