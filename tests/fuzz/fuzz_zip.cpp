// libFuzzer target: the zip reader (lib/tavce/io/zip_reader.cpp) torch.save
// archives go through. Entries it lists must lie inside the archive, and
// verify_crc must read only their bytes; bad input is a tavce::Error.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "tavce/error.h"
#include "tavce/io/zip_reader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // An exact-size heap copy, so ASan sees any read past the end.
  auto bytes = std::make_shared<const std::vector<uint8_t>>(data, data + size);
  try {
    const tavce::io::ZipReader zip(tavce::io::bytes_source(bytes), "fuzz");
    for (const tavce::io::ZipEntry& e : zip.entries()) {
      if (e.data_offset > size || e.size > size - e.data_offset) __builtin_trap();
      if (zip.find(e.name) == nullptr) __builtin_trap();
      try {
        zip.verify_crc(e);
      } catch (const tavce::Error&) {
      }
    }
  } catch (const tavce::Error&) {
  }
  return 0;
}
