// libFuzzer target: the safetensors reader (lib/tavce/io/safetensors.cpp) on
// arbitrary bytes. Every input must either parse into views that lie inside
// the file, or throw tavce::Error; anything else (a crash, an ASan/UBSan
// report, another exception type) is a finding.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "tavce/error.h"
#include "tavce/io/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const auto file = tavce::io::SafeTensors::parse(std::vector<uint8_t>(data, data + size), "fuzz");
    const std::vector<uint8_t>& bytes = file.bytes();
    volatile uint8_t sink = 0;
    for (const tavce::io::TensorView& t : file.tensors()) {
      // Touch the first and last byte of every view: ASan reports a view that
      // escapes the file.
      if (t.nbytes > 0) sink ^= t.data[0] ^ t.data[t.nbytes - 1];
      if (t.nbytes > 0 && (t.data < bytes.data() || t.data + t.nbytes > bytes.data() + bytes.size())) __builtin_trap();
      if (t.numel() < 0) __builtin_trap();
      (void)file.at(t.name);
    }
    (void)sink;
  } catch (const tavce::Error&) {
  }
  return 0;
}
