// A viewer branch on one of an avatar's tees:
//
//   tee ! queue leaky=downstream (a few frames) ! appsink sync=true
//
// The appsink releases each sample at its running time plus the pipeline
// latency, in the avatar pipeline's streaming thread of this branch, and hands
// it to `on_sample`. A consumer that stops taking data only fills (and then
// drops from) its own queue: the render and the other branches never wait.
// attach()/detach() run on the main context; detach() releases the tee pad
// and removes the elements at once (tee copes with a pad released while it
// streams), so a branch never outlives its detach().
#pragma once

#include <gst/gst.h>

#include <functional>
#include <memory>
#include <mutex>
#include <string>

class TeeBranch {
 public:
  using SampleHandler = std::function<void(GstSample*)>;

  TeeBranch() = default;
  ~TeeBranch() { detach(); }
  TeeBranch(const TeeBranch&) = delete;
  TeeBranch& operator=(const TeeBranch&) = delete;

  // `max_buffers`: what the leaky queue holds before it drops the oldest.
  bool attach(GstElement* pipeline, GstElement* tee, guint max_buffers, SampleHandler on_sample);
  void detach();
  bool attached() const { return queue_ != nullptr; }
  // The caps the tee sends (null until data flowed once); caller unrefs.
  GstCaps* caps() const;

 private:
  // What the appsink's streaming thread calls; detach() clears it under the
  // lock, so no call runs into an owner that has gone.
  struct Target {
    std::mutex mu;
    SampleHandler handler;
  };
  static GstFlowReturn on_new_sample(GstElement* sink, gpointer target);

  GstElement* pipeline_ = nullptr;
  GstElement* tee_ = nullptr;
  GstElement* queue_ = nullptr;
  GstElement* sink_ = nullptr;
  GstPad* tee_pad_ = nullptr;
  std::shared_ptr<Target> target_;
};
