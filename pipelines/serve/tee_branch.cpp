#include "tee_branch.h"

#include <gst/app/gstappsink.h>

namespace {

// What the IDLE probe and the later clean-up share once the branch object has
// forgotten the elements.
struct Removal {
  GstElement* pipeline;
  GstElement* tee;
  GstElement* queue;
  GstElement* sink;
  GstPad* tee_pad;
};

gboolean remove_elements(gpointer data) {
  auto* r = static_cast<Removal*>(data);
  for (GstElement* e : {r->queue, r->sink}) {
    gst_element_set_locked_state(e, TRUE);
    gst_element_set_state(e, GST_STATE_NULL);
    gst_bin_remove(GST_BIN(r->pipeline), e);
    gst_object_unref(e);
  }
  gst_object_unref(r->tee);
  gst_object_unref(r->pipeline);
  delete r;
  return G_SOURCE_REMOVE;
}

GstPadProbeReturn unlink_when_idle(GstPad* pad, GstPadProbeInfo*, gpointer data) {
  auto* r = static_cast<Removal*>(data);
  GstPad* peer = gst_pad_get_peer(pad);
  if (peer) {
    gst_pad_unlink(pad, peer);
    gst_object_unref(peer);
  }
  gst_element_release_request_pad(r->tee, pad);
  gst_object_unref(pad);
  // Element state changes do not belong in a streaming thread.
  g_idle_add(remove_elements, r);
  return GST_PAD_PROBE_REMOVE;
}

}  // namespace

bool TeeBranch::attach(GstElement* pipeline, GstElement* tee, guint max_buffers, SampleHandler on_sample) {
  if (queue_ || !pipeline || !tee) return false;
  target_ = std::make_shared<Target>();
  target_->handler = std::move(on_sample);
  queue_ = gst_element_factory_make("queue", nullptr);
  sink_ = gst_element_factory_make("appsink", nullptr);
  g_object_set(queue_, "leaky", 2 /* downstream: drop the oldest */, "max-size-buffers", max_buffers,
               "max-size-time", G_GUINT64_CONSTANT(0), "max-size-bytes", 0u, nullptr);
  g_object_set(sink_, "sync", TRUE, "async", FALSE, "qos", FALSE, "emit-signals", TRUE, "max-buffers", 2u, "drop",
               TRUE, "enable-last-sample", FALSE, nullptr);
  g_signal_connect_data(sink_, "new-sample", G_CALLBACK(&TeeBranch::on_new_sample),
                        new std::shared_ptr<Target>(target_),
                        [](gpointer p, GClosure*) { delete static_cast<std::shared_ptr<Target>*>(p); },
                        GConnectFlags(0));
  gst_object_ref(queue_);
  gst_object_ref(sink_);
  gst_bin_add_many(GST_BIN(pipeline), queue_, sink_, nullptr);
  gst_element_link(queue_, sink_);
  gst_element_sync_state_with_parent(sink_);
  gst_element_sync_state_with_parent(queue_);
  tee_pad_ = gst_element_request_pad_simple(tee, "src_%u");
  GstPad* qsink = gst_element_get_static_pad(queue_, "sink");
  const bool ok = gst_pad_link(tee_pad_, qsink) == GST_PAD_LINK_OK;
  gst_object_unref(qsink);
  pipeline_ = GST_ELEMENT(gst_object_ref(pipeline));
  tee_ = GST_ELEMENT(gst_object_ref(tee));
  if (!ok) {
    detach();
    return false;
  }
  return true;
}

void TeeBranch::detach() {
  if (!queue_) return;
  {
    // No more calls into the owner from here on (waits for one in flight).
    std::lock_guard<std::mutex> lock(target_->mu);
    target_->handler = nullptr;
  }
  target_.reset();
  auto* r = new Removal{pipeline_, tee_, queue_, sink_, tee_pad_};
  pipeline_ = tee_ = queue_ = sink_ = nullptr;
  tee_pad_ = nullptr;
  GstState state = GST_STATE_NULL;
  gst_element_get_state(r->pipeline, &state, nullptr, 0);
  if (state == GST_STATE_PLAYING) {
    // Unlink between two buffers; the probe owns the pad reference now.
    gst_pad_add_probe(r->tee_pad, GST_PAD_PROBE_TYPE_IDLE, unlink_when_idle, r, nullptr);
  } else {
    unlink_when_idle(r->tee_pad, nullptr, r);
  }
}

GstCaps* TeeBranch::caps() const {
  if (!tee_) return nullptr;
  GstPad* sink = gst_element_get_static_pad(tee_, "sink");
  GstCaps* caps = gst_pad_get_current_caps(sink);
  gst_object_unref(sink);
  return caps;
}

GstFlowReturn TeeBranch::on_new_sample(GstElement* sink, gpointer data) {
  Target& target = **static_cast<std::shared_ptr<Target>*>(data);
  GstSample* sample = gst_app_sink_pull_sample(GST_APP_SINK(sink));
  if (!sample) return GST_FLOW_OK;
  {
    std::lock_guard<std::mutex> lock(target.mu);
    if (target.handler) target.handler(sample);
  }
  gst_sample_unref(sample);
  return GST_FLOW_OK;
}
