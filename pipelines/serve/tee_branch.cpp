#include "tee_branch.h"

#include <gst/app/gstappsink.h>

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
  // tee releases a request pad safely while it streams (it takes its own
  // lock); from then on nothing enters the branch, and stopping the queue
  // joins its thread (an appsink waiting on the clock is woken by NULL).
  gst_element_release_request_pad(tee_, tee_pad_);
  gst_object_unref(tee_pad_);
  tee_pad_ = nullptr;
  for (GstElement* e : {queue_, sink_}) {
    gst_element_set_locked_state(e, TRUE);
    gst_element_set_state(e, GST_STATE_NULL);
    if (GST_OBJECT_PARENT(e)) gst_bin_remove(GST_BIN(pipeline_), e);
    gst_object_unref(e);
  }
  queue_ = sink_ = nullptr;
  gst_object_unref(tee_);
  gst_object_unref(pipeline_);
  tee_ = pipeline_ = nullptr;
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
