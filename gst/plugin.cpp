// Registration of the `tavce` plugin. Each element is one entry in kElements;
// nothing heavy happens here (models load in each element's READY->PAUSED),
// so that registry scans stay fast and never fail on a missing model.

#include <gst/gst.h>

#include "gsttavceaudio2coeff.h"
#include "gsttavcedatasetsink.h"
#include "gsttavcefacealpha.h"
#include "gsttavcefacetrack.h"
#include "gsttavcemelspec.h"
#include "gsttavcerenderer.h"
#include "gsttavcesyncscore.h"

namespace {

struct ElementEntry {
  const char* name;
  guint rank;
  GType (*get_type)();
};

// Rank NONE: these elements are only ever placed by name, never autoplugged.
const ElementEntry kElements[] = {
    {"tavcemelspec", GST_RANK_NONE, gst_tavce_mel_spec_get_type},
    {"tavceaudio2coeff", GST_RANK_NONE, gst_tavce_audio2coeff_get_type},
    {"tavcerenderer", GST_RANK_NONE, gst_tavce_renderer_get_type},
    {"tavcesyncscore", GST_RANK_NONE, gst_tavce_sync_score_get_type},
    {"tavcefacetrack", GST_RANK_NONE, gst_tavce_face_track_get_type},
    {"tavcedatasetsink", GST_RANK_NONE, gst_tavce_dataset_sink_get_type},
    {"tavcefacealpha", GST_RANK_NONE, gst_tavce_face_alpha_get_type},
};

gboolean plugin_init(GstPlugin* plugin) {
  gboolean ok = TRUE;
  for (const ElementEntry& e : kElements) {
    if (!gst_element_register(plugin, e.name, e.rank, e.get_type())) {
      GST_ERROR_OBJECT(plugin, "could not register element %s", e.name);
      ok = FALSE;
    }
  }
  return ok;
}

}  // namespace

GST_PLUGIN_DEFINE(GST_VERSION_MAJOR, GST_VERSION_MINOR, tavce,
                  "TAVCE talking-head generation: audio front end, coefficient and rendering elements",
                  plugin_init, VERSION, "LGPL", GST_PACKAGE_NAME, GST_PACKAGE_ORIGIN)
