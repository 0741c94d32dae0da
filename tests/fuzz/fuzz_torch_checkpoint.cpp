// libFuzzer target: TorchCheckpoint::parse, both layouts (zip and legacy,
// picked by the file's first bytes), then what a caller does with the result:
// list keys, render the tree, take state dicts and read every tensor's first
// and last element. Bad input must be a tavce::Error, nothing else.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "tavce/error.h"
#include "tavce/io/torch_checkpoint.h"

using tavce::io::TensorRef;

namespace {

void touch(const TensorRef& t) {
  if (t.numel() == 0) return;
  // The highest element the view reaches; check_tensor_ref promised it lies
  // inside the storage, so reading it must not upset ASan.
  int64_t last = t.storage_offset;
  for (size_t k = 0; k < t.shape.size(); ++k) last += (t.shape[k] - 1) * t.strides[k];
  const size_t esize = tavce::io::dtype_size(t.dtype);
  volatile uint8_t sink = t.storage[t.storage_offset * esize];
  sink = t.storage[last * esize + esize - 1];
  (void)sink;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto bytes = std::make_shared<const std::vector<uint8_t>>(data, data + size);
  try {
    const auto ck = tavce::io::TorchCheckpoint::parse(tavce::io::bytes_source(bytes), "fuzz");
    (void)ck.root().repr(300);
    std::vector<std::string> paths{""};
    for (const std::string& k : ck.top_level_keys()) paths.push_back(k);
    for (const std::string& path : paths) {
      try {
        for (const auto& kv : ck.state_dict(path)) touch(kv.second);
      } catch (const tavce::Error&) {
      }
    }
  } catch (const tavce::Error&) {
  }
  return 0;
}
