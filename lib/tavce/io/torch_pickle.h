// How torch.save's pickles describe storages and tensors, as PickleHooks for
// the unpickler. Internal to the checkpoint reader.
//
// A storage appears as a persistent id:
//   zip format:    ('storage', torch.<Type>Storage, key, location, numel)
//   legacy format: ('storage', torch.<Type>Storage, root_key, location, root_numel, view)
// where view is None or (view_key, offset, numel), a slice of the root storage
// (torch before 0.4 could save storage slices). A tensor is a REDUCE of
//   torch._utils._rebuild_tensor(storage, offset, size, stride)            (torch < 0.4)
//   torch._utils._rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks[, metadata])
// and a Parameter wraps one: torch._utils._rebuild_parameter(tensor, requires_grad, hooks[, state]).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "tavce/io/pickle.h"

namespace tavce::io::torch_detail {

class TorchHooks : public PickleHooks {
 public:
  enum class Layout { Zip, Legacy };
  // bind(storage) locates a root storage's bytes as soon as the pickle names
  // it (zip format: the bytes are an archive entry); without it storages are
  // bound later by the caller through roots() (legacy format).
  TorchHooks(Layout layout, std::string label, std::function<void(StorageRef&)> bind = {});

  Value persistent_load(const Value& pid) override;
  bool call(const std::string& module, const std::string& name, const Value& args, Value* out) override;

  // Root storages by key, in the order the pickle first named them.
  const std::vector<std::pair<std::string, Value>>& roots() const { return roots_; }
  Value* find_root(const std::string& key);
  // Once every root is bound: binds the legacy views to their roots, gives
  // every tensor its storage bytes and `owner`, and checks that each view
  // fits its storage. Throws tavce::Error.
  void finish(const std::shared_ptr<const void>& owner);

 private:
  Value storage_for(const Value& pid);
  Value rebuild_tensor(const std::string& fn, const Value& args);

  Layout layout_;
  std::string label_;
  std::function<void(StorageRef&)> bind_;
  std::vector<std::pair<std::string, Value>> roots_;
  std::map<std::string, size_t> root_index_;
  struct View {
    Value storage;
    std::string root_key;
    uint64_t offset = 0;  // elements into the root
  };
  std::map<std::string, View> views_;
  std::vector<std::pair<Value, Value>> tensors_;  // each tensor with its storage
};

}  // namespace tavce::io::torch_detail
