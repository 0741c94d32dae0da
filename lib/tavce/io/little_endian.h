// Little-endian integer loads from unaligned bytes, independent of the host
// byte order. Callers check bounds first.
#pragma once

#include <cstdint>

namespace tavce::io::le {

inline uint16_t u16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | p[1] << 8); }
inline uint32_t u32(const uint8_t* p) {
  return uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24;
}
inline uint64_t u64(const uint8_t* p) { return uint64_t(u32(p)) | uint64_t(u32(p + 4)) << 32; }
inline int32_t i32(const uint8_t* p) { return static_cast<int32_t>(u32(p)); }
inline int64_t i64(const uint8_t* p) { return static_cast<int64_t>(u64(p)); }

}  // namespace tavce::io::le
