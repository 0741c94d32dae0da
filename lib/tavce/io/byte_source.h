// Read-only bytes of a whole file, mapped rather than copied so that a 2 GB
// checkpoint costs address space, not memory, and only the pages actually
// used are read from disk. Views into the bytes keep `owner` alive.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace tavce::io {

struct ByteSource {
  const uint8_t* data = nullptr;  // nullptr only when size == 0
  size_t size = 0;
  std::shared_ptr<const void> owner;  // the mapping or buffer behind data
};

// Maps `path` read-only (POSIX mmap); throws tavce::Error naming the path.
ByteSource map_file(const std::string& path);
// Wraps bytes already in memory (tests, or data that is not a file).
ByteSource bytes_source(std::shared_ptr<const std::vector<uint8_t>> bytes);

}  // namespace tavce::io
