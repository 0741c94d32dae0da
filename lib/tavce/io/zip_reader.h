// Reader for the uncompressed ("stored") zip archives torch.save writes.
//
// Only the central directory is trusted for the list of entries (local headers
// may carry padding in their extra field, which torch uses to align tensor data
// to 64 bytes); each entry's local header is read only to find where its data
// starts. Zip64 extra fields and the zip64 end-of-central-directory record are
// understood, so files past 4 GB work. Compressed or encrypted entries, split
// archives and entries that overlap the directory are errors.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "tavce/io/byte_source.h"

namespace tavce::io {

struct ZipEntry {
  std::string name;
  uint64_t data_offset = 0;  // absolute offset of the entry's bytes in the archive
  uint64_t size = 0;
  uint32_t crc32 = 0;  // as recorded in the central directory
};

class ZipReader {
 public:
  // Parses the directory of `source`; `label` names the file in errors.
  // Throws tavce::Error on any structural problem.
  ZipReader(ByteSource source, std::string label);

  const std::string& label() const { return label_; }
  const std::vector<ZipEntry>& entries() const { return entries_; }
  // nullptr when there is no entry with exactly that name.
  const ZipEntry* find(const std::string& name) const;
  // The entry's bytes (inside the archive's mapping, not copied).
  const uint8_t* data(const ZipEntry& entry) const { return source_.data + entry.data_offset; }
  // Recomputes the entry's CRC-32 and throws tavce::Error when it differs.
  void verify_crc(const ZipEntry& entry) const;
  const ByteSource& source() const { return source_; }

 private:
  ByteSource source_;
  std::string label_;
  std::vector<ZipEntry> entries_;
};

}  // namespace tavce::io
