// libFuzzer target: the unpickler with the torch hooks (storages as persistent
// ids, _rebuild_tensor*, the allow-list), on a bare pickle. The zip layout
// checks data.pkl's CRC, so this target is how mutations reach the opcode
// loop; fuzz_torch_checkpoint covers the layouts around it.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "tavce/error.h"
#include "tavce/io/pickle.h"
#include "tavce/io/torch_pickle.h"

using tavce::io::StorageRef;
using tavce::io::torch_detail::TorchHooks;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto bytes = std::make_shared<const std::vector<uint8_t>>(data, data + size);
  // Every storage the pickle names is bound to zero bytes of a 4 KiB buffer
  // when its declared size fits (as the zip reader binds entries), so the
  // tensor checks in finish() run against real storage bounds.
  static const std::vector<uint8_t> backing(4096, 0);
  auto bind = [&](StorageRef& s) {
    if (s.nbytes > backing.size()) throw tavce::Error("storage larger than the fuzz backing");
    s.data = backing.data();
    s.bound = true;
  };
  try {
    TorchHooks hooks(TorchHooks::Layout::Zip, "fuzz", bind);
    const tavce::io::UnpickleResult r = tavce::io::unpickle(bytes->data(), bytes->size(), "fuzz", &hooks);
    if (r.consumed > size) __builtin_trap();
    hooks.finish(bytes);
    (void)r.value.repr(300);
  } catch (const tavce::Error&) {
  }
  return 0;
}
