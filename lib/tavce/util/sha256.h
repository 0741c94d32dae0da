// SHA-256 (FIPS 180-4), used to pin model weight files: a bundle's model.json
// records the digest of every weight file, and the converter prints the digest
// of every official input so the manifest can be filled in.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

namespace tavce::util {

class Sha256 {
 public:
  Sha256();
  void update(const void* data, size_t size);
  void update(const std::string& text) { update(text.data(), text.size()); }
  // Pads, returns the 32-byte digest; the object must not be updated afterwards.
  std::array<uint8_t, 32> final();
  // final() as 64 lowercase hex digits.
  std::string final_hex();

 private:
  void compress(const uint8_t* block);

  std::array<uint32_t, 8> state_;
  std::array<uint8_t, 64> buffer_{};
  size_t buffered_ = 0;
  uint64_t total_bytes_ = 0;
  bool finished_ = false;
};

std::string sha256_hex(const void* data, size_t size);
// Digest of a whole file, read in chunks (weight files are hundreds of MB).
// Throws tavce::Error naming the file if it cannot be read.
std::string sha256_file(const std::string& path);

}  // namespace tavce::util
