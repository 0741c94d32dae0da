// The two torch.save layouts, each turned into the root value. Internal to
// the checkpoint reader (torch_checkpoint.cpp picks one by the file's magic).
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "tavce/io/byte_source.h"
#include "tavce/io/pickle_value.h"

namespace tavce::io::torch_detail {

// Zip layout; fills storage_crc with each storage's CRC-32 from the directory.
Value load_zip(const ByteSource& source, const std::string& label, std::map<std::string, uint32_t>* storage_crc);
// Legacy (magic number) layout.
Value load_legacy(const ByteSource& source, const std::string& label);

}  // namespace tavce::io::torch_detail
