// The application/x-tavce-coeffs caps, built from and parsed back into a
// CoeffCapsInfo.
//
// One place defines the field names so that the producer (tavceaudio2coeff)
// and the consumer (tavcerenderer), and a capsfilter replaying a filesink
// dump, agree: coefficients of another space, width or frame rate fail to
// intersect at link time instead of driving the renderer with numbers it
// cannot interpret. docs/caps.md is the user-facing specification.
#pragma once

#include <gst/gst.h>

#include <string>

namespace tavce::gst {

inline constexpr const char* kCoeffsMediaType = "application/x-tavce-coeffs";
inline constexpr const char* kCoeffsDefaultSpace = "bfm-exp64-pose6";

// What one coefficient stream means: `dims` float32 values per video frame,
// in the order of `space`, at fps_num/fps_den frames per second.
struct CoeffCapsInfo {
  int dims = 70;                          // 70 (exp 64 + pose 6) or 73 (+ 3 crop parameters)
  std::string space = kCoeffsDefaultSpace;  // coefficient space (a bundle's coefficient_space)
  int fps_num = 25;
  int fps_den = 1;

  bool operator==(const CoeffCapsInfo& o) const {
    return dims == o.dims && space == o.space &&
           static_cast<gint64>(fps_num) * o.fps_den == static_cast<gint64>(o.fps_num) * fps_den;
  }
  bool operator!=(const CoeffCapsInfo& o) const { return !(*this == o); }
  // Bytes of one row (one video frame).
  gsize row_bytes() const { return static_cast<gsize>(dims) * sizeof(float); }
};

// Fixed caps describing exactly this stream.
inline GstCaps* coeff_caps_new(const CoeffCapsInfo& info) {
  return gst_caps_new_simple(kCoeffsMediaType,
      "framerate", GST_TYPE_FRACTION, info.fps_num, info.fps_den,
      "dims", G_TYPE_INT, info.dims,
      "space", G_TYPE_STRING, info.space.c_str(),
      "format", G_TYPE_STRING, "F32LE",
      nullptr);
}

// The pad-template caps of any coefficient stream (any space: the field is
// left out, which matches every value).
inline GstCaps* coeff_caps_template() {
  return gst_caps_from_string(
      "application/x-tavce-coeffs, framerate=(fraction)[ 1/1, 1000/1 ], dims=(int)[ 1, 4096 ], "
      "format=(string)F32LE");
}

// Reads fixed coefficient caps back. Returns false (and says why in *why when
// given) if a field is missing or out of range; consumers turn that into an
// element error.
inline bool coeff_caps_to_info(const GstCaps* caps, CoeffCapsInfo* info, std::string* why = nullptr) {
  auto fail = [why](const std::string& msg) {
    if (why) *why = msg;
    return false;
  };
  if (!caps || gst_caps_get_size(caps) != 1 || !gst_caps_is_fixed(caps))
    return fail("coefficient caps must be fixed and hold one structure");
  const GstStructure* s = gst_caps_get_structure(caps, 0);
  if (!gst_structure_has_name(s, kCoeffsMediaType))
    return fail(std::string("expected ") + kCoeffsMediaType + ", got " + gst_structure_get_name(s));
  CoeffCapsInfo c;
  if (!gst_structure_get_int(s, "dims", &c.dims))
    return fail("coefficient caps lack 'dims' (int)");
  if (c.dims <= 0 || c.dims > 4096)
    return fail("coefficient caps 'dims' must lie in 1..4096, got " + std::to_string(c.dims));
  if (!gst_structure_get_fraction(s, "framerate", &c.fps_num, &c.fps_den) || c.fps_num <= 0 ||
      c.fps_den <= 0)
    return fail("coefficient caps need a positive 'framerate' (fraction), e.g. 25/1");
  const char* space = gst_structure_get_string(s, "space");
  if (!space || !*space) return fail("coefficient caps lack 'space' (string), e.g. bfm-exp64-pose6");
  c.space = space;
  const char* format = gst_structure_get_string(s, "format");
  if (!format || g_strcmp0(format, "F32LE") != 0)
    return fail("coefficient payload format must be F32LE");
  *info = c;
  return true;
}

// Time of row `index` of a run starting at `base`: exact (integer scaling,
// no accumulated rounding), so row i is always base + i * fps_den / fps_num s.
inline GstClockTime coeff_row_time(GstClockTime base, guint64 index, const CoeffCapsInfo& info) {
  return base + gst_util_uint64_scale(index, static_cast<guint64>(info.fps_den) * GST_SECOND,
                                      static_cast<guint64>(info.fps_num));
}

}  // namespace tavce::gst
