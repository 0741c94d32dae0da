// Central-directory zip parser for torch.save archives (see zip_reader.h).
// Offsets are 64-bit throughout and every read is bounds-checked against the
// file first, so a truncated or corrupt archive is an Error, never a read
// past the mapping.
#include "tavce/io/zip_reader.h"

#include <algorithm>
#include <cstdio>
#include <set>

#include "tavce/error.h"
#include "tavce/io/crc32.h"
#include "tavce/io/little_endian.h"

namespace tavce::io {
namespace {

constexpr uint32_t kLocalSig = 0x04034b50;
constexpr uint32_t kCentralSig = 0x02014b50;
constexpr uint32_t kEndSig = 0x06054b50;
constexpr uint32_t kEnd64Sig = 0x06064b50;
constexpr uint32_t kEnd64LocatorSig = 0x07064b50;
constexpr size_t kEndSize = 22, kEnd64Size = 56, kEnd64LocatorSize = 20;
constexpr size_t kCentralSize = 46, kLocalSize = 30;
constexpr uint16_t kZip64ExtraId = 0x0001;

std::string hex32(uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08x", v);
  return buf;
}

struct Directory {
  uint64_t offset = 0, size = 0, count = 0;
  uint64_t end = 0;  // where the directory must stop: the first end record
};

class Parser {
 public:
  Parser(const ByteSource& src, const std::string& label) : src_(src), label_(label) {}

  [[noreturn]] void fail(const std::string& what) const { throw Error(label_ + ": " + what); }

  // True when [offset, offset + n) lies inside the file.
  bool fits(uint64_t offset, uint64_t n) const { return offset <= src_.size && n <= src_.size - offset; }
  const uint8_t* at(uint64_t offset, uint64_t n, const char* what) const {
    if (!fits(offset, n))
      fail(std::string("truncated zip: ") + what + " at byte " + std::to_string(offset) + " (+" +
           std::to_string(n) + ") lies past the end of the " + std::to_string(src_.size) + "-byte file");
    return src_.data + offset;
  }

  Directory find_directory() const {
    if (src_.size < kEndSize) fail("too short to be a zip archive (" + std::to_string(src_.size) + " bytes)");
    // The end record is the last 22 bytes unless a comment (at most 64 KiB)
    // follows it; the comment length must then account for the rest exactly.
    const uint64_t last = src_.size - kEndSize;
    const uint64_t first = last > 0xFFFF ? last - 0xFFFF : 0;
    for (uint64_t pos = last + 1; pos-- > first;) {
      const uint8_t* p = src_.data + pos;
      if (le::u32(p) != kEndSig || pos + kEndSize + le::u16(p + 20) != src_.size) continue;
      return read_end(pos);
    }
    fail("no zip end-of-central-directory record (truncated, or not a zip archive)");
  }

  Directory read_end(uint64_t pos) const {
    const uint8_t* p = src_.data + pos;
    const uint16_t disk = le::u16(p + 4), cd_disk = le::u16(p + 6);
    const uint16_t n_disk = le::u16(p + 8), n_total = le::u16(p + 10);
    const uint32_t cd_size = le::u32(p + 12), cd_offset = le::u32(p + 16);
    const bool has_locator = pos >= kEnd64LocatorSize && le::u32(src_.data + pos - kEnd64LocatorSize) == kEnd64LocatorSig;
    if (has_locator) return read_end64(pos - kEnd64LocatorSize);
    if (n_disk == 0xFFFF || n_total == 0xFFFF || cd_size == 0xFFFFFFFFu || cd_offset == 0xFFFFFFFFu)
      fail("zip end record defers to zip64 but there is no zip64 locator before it");
    if (disk != 0 || cd_disk != 0 || n_disk != n_total) fail("multi-part zip archives are not supported");
    Directory d;
    d.offset = cd_offset;
    d.size = cd_size;
    d.count = n_total;
    d.end = pos;
    return d;
  }

  Directory read_end64(uint64_t locator_pos) const {
    const uint8_t* loc = src_.data + locator_pos;
    const uint32_t disk = le::u32(loc + 4), total_disks = le::u32(loc + 16);
    const uint64_t rec_pos = le::u64(loc + 8);
    if (disk != 0 || total_disks > 1) fail("multi-part zip archives are not supported");
    if (rec_pos > locator_pos || locator_pos - rec_pos < kEnd64Size)
      fail("zip64 end record offset " + std::to_string(rec_pos) + " is not before its locator");
    const uint8_t* p = at(rec_pos, kEnd64Size, "zip64 end record");
    if (le::u32(p) != kEnd64Sig) fail("bad zip64 end record signature " + hex32(le::u32(p)));
    if (le::u32(p + 16) != 0 || le::u32(p + 20) != 0 || le::u64(p + 24) != le::u64(p + 32))
      fail("multi-part zip archives are not supported");
    Directory d;
    d.count = le::u64(p + 32);
    d.size = le::u64(p + 40);
    d.offset = le::u64(p + 48);
    d.end = rec_pos;
    return d;
  }

  // Reads the 64-bit values the zip64 extra field holds for the 32-bit fields
  // that are saturated (0xFFFFFFFF), in the order the format fixes.
  void apply_zip64(const uint8_t* extra, size_t extra_len, uint64_t* usize, uint64_t* csize,
                   uint64_t* offset, const std::string& name) const {
    const bool need_u = *usize == 0xFFFFFFFFu, need_c = *csize == 0xFFFFFFFFu, need_o = *offset == 0xFFFFFFFFu;
    if (!need_u && !need_c && !need_o) return;
    size_t pos = 0;
    while (pos + 4 <= extra_len) {
      const uint16_t id = le::u16(extra + pos), len = le::u16(extra + pos + 2);
      if (pos + 4 + len > extra_len) break;
      if (id == kZip64ExtraId) {
        const uint8_t* f = extra + pos + 4;
        size_t used = 0;
        auto take = [&](uint64_t* v) {
          if (used + 8 > len) fail("zip64 extra field of '" + name + "' is too short");
          *v = le::u64(f + used);
          used += 8;
        };
        if (need_u) take(usize);
        if (need_c) take(csize);
        if (need_o) take(offset);
        return;
      }
      pos += 4 + len;
    }
    fail("entry '" + name + "' has saturated 32-bit sizes but no zip64 extra field");
  }

  std::vector<ZipEntry> read_entries() const {
    const Directory dir = find_directory();
    if (dir.offset > dir.end || dir.size > dir.end - dir.offset)
      fail("central directory (offset " + std::to_string(dir.offset) + ", " + std::to_string(dir.size) +
           " bytes) overlaps the end record or lies past the end of the file");
    if (dir.count > dir.size / kCentralSize)
      fail("central directory claims " + std::to_string(dir.count) + " entries in " + std::to_string(dir.size) +
           " bytes");
    std::vector<ZipEntry> entries;
    entries.reserve(dir.count);
    std::vector<std::pair<uint64_t, uint64_t>> spans;  // [local header, data end) per entry
    std::set<std::string> names;
    uint64_t pos = dir.offset;
    const uint64_t dir_end = dir.offset + dir.size;
    for (uint64_t i = 0; i < dir.count; ++i) {
      if (dir_end - pos < kCentralSize) fail("central directory entry " + std::to_string(i) + " is truncated");
      const uint8_t* p = src_.data + pos;
      if (le::u32(p) != kCentralSig)
        fail("bad central directory signature " + hex32(le::u32(p)) + " at byte " + std::to_string(pos));
      const uint16_t flags = le::u16(p + 8), method = le::u16(p + 10);
      const uint32_t crc = le::u32(p + 16);
      uint64_t csize = le::u32(p + 20), usize = le::u32(p + 24);
      const uint16_t name_len = le::u16(p + 28), extra_len = le::u16(p + 30), comment_len = le::u16(p + 32);
      uint64_t local = le::u32(p + 42);
      const uint64_t record = kCentralSize + uint64_t(name_len) + extra_len + comment_len;
      if (dir_end - pos < record) fail("central directory entry " + std::to_string(i) + " is truncated");
      ZipEntry e;
      e.name.assign(reinterpret_cast<const char*>(p + kCentralSize), name_len);
      apply_zip64(p + kCentralSize + name_len, extra_len, &usize, &csize, &local, e.name);
      if (flags & 0x1) fail("entry '" + e.name + "' is encrypted");
      if (method != 0)
        fail("entry '" + e.name + "' is compressed (method " + std::to_string(method) +
             "); torch.save writes stored entries only, so this archive was repacked: re-save it with torch.save");
      if (csize != usize) fail("stored entry '" + e.name + "' has different compressed and plain sizes");
      if (!names.insert(e.name).second) fail("duplicate zip entry '" + e.name + "'");

      const uint8_t* lh = at(local, kLocalSize, "local header");
      if (le::u32(lh) != kLocalSig) fail("bad local header signature for '" + e.name + "'");
      const uint16_t lname_len = le::u16(lh + 26), lextra_len = le::u16(lh + 28);
      const uint8_t* lname = at(local + kLocalSize, lname_len, "local header name");
      if (lname_len != name_len || !std::equal(lname, lname + name_len, e.name.begin()))
        fail("local header name of '" + e.name + "' does not match the central directory");
      e.data_offset = local + kLocalSize + lname_len + lextra_len;
      e.size = usize;
      e.crc32 = crc;
      // Entry data must end before the directory starts: nothing may alias it.
      if (e.data_offset > dir.offset || e.size > dir.offset - e.data_offset)
        fail("data of '" + e.name + "' (" + std::to_string(e.size) + " bytes at " + std::to_string(e.data_offset) +
             ") runs into the central directory or past the end of the file");
      spans.emplace_back(local, e.data_offset + e.size);
      entries.push_back(std::move(e));
      pos += record;
    }
    std::sort(spans.begin(), spans.end());
    for (size_t i = 1; i < spans.size(); ++i)
      if (spans[i].first < spans[i - 1].second) fail("zip entries overlap");
    return entries;
  }

 private:
  const ByteSource& src_;
  const std::string& label_;
};

}  // namespace

ZipReader::ZipReader(ByteSource source, std::string label) : source_(std::move(source)), label_(std::move(label)) {
  entries_ = Parser(source_, label_).read_entries();
}

const ZipEntry* ZipReader::find(const std::string& name) const {
  for (const ZipEntry& e : entries_)
    if (e.name == name) return &e;
  return nullptr;
}

void ZipReader::verify_crc(const ZipEntry& entry) const {
  const uint32_t got = crc32(data(entry), entry.size);
  if (got != entry.crc32)
    throw Error(label_ + ": CRC mismatch in zip entry '" + entry.name + "' (stored " + hex32(entry.crc32) +
                ", computed " + hex32(got) + "): the file is corrupt");
}

}  // namespace tavce::io
