// CRC-32 as zip (and zlib) define it: reflected polynomial 0xEDB88320,
// initial value and final xor 0xFFFFFFFF.
#pragma once

#include <cstddef>
#include <cstdint>

namespace tavce::io {

// crc32(data, n) for one buffer; pass the previous result as `crc` to continue.
uint32_t crc32(const uint8_t* data, size_t size, uint32_t crc = 0);

}  // namespace tavce::io
