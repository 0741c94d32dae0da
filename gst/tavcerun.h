// The start of a "run" in the streaming elements: a run begins at a start,
// flush or discontinuity, and its frame (or row) n is stamped base + n / rate.
// One rule for every element, so that the timelines of tavcemelspec,
// tavceaudio2coeff and tavcerenderer line up.
#pragma once

#include <gst/gst.h>

namespace tavce::gst {

// The base time of a run whose first buffer is `first`: its PTS; without
// one, the start of the TIME segment in force; else 0.
inline GstClockTime run_base_time(GstBuffer* first, const GstSegment& segment) {
  if (GST_BUFFER_PTS_IS_VALID(first)) return GST_BUFFER_PTS(first);
  if (segment.format == GST_FORMAT_TIME && GST_CLOCK_TIME_IS_VALID(segment.start)) return segment.start;
  return 0;
}

}  // namespace tavce::gst
