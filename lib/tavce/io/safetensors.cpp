// safetensors reader and writer. The layout is:
//   [u64 little-endian N][N bytes of JSON header][data section]
// and the header maps tensor names to {dtype, shape, data_offsets}, offsets
// being relative to the start of the data section.
//
// The reader is as strict as the reference (Rust) implementation: tensors must
// tile the data section exactly, with no overlap, gap or trailing bytes. A file
// that breaks any rule is corrupt or was written by something we do not
// understand, and using it anyway would feed garbage weights to a network.
#include "tavce/io/safetensors.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <limits>
#include <set>
#include <sstream>
#include <tuple>
#include <utility>

#include <nlohmann/json.hpp>

#include "tavce/error.h"

namespace tavce::io {
namespace {

using json = nlohmann::json;

// Real headers are a few hundred kB at most; the cap keeps a corrupt length
// field from making us parse (and allocate for) gigabytes.
constexpr uint64_t kMaxHeaderBytes = 100ull * 1024 * 1024;
constexpr const char* kMetadataKey = "__metadata__";

struct DTypeInfo {
  DType dtype;
  const char* name;
  size_t size;
};

constexpr DTypeInfo kDTypes[] = {
    {DType::BOOL, "BOOL", 1}, {DType::U8, "U8", 1},     {DType::I8, "I8", 1},
    {DType::I16, "I16", 2},   {DType::I32, "I32", 4},   {DType::I64, "I64", 8},
    {DType::F16, "F16", 2},   {DType::BF16, "BF16", 2}, {DType::F32, "F32", 4},
    {DType::F64, "F64", 8},
};

const DTypeInfo& info(DType dtype) {
  for (const auto& d : kDTypes)
    if (d.dtype == dtype) return d;
  throw Error("invalid safetensors DType value " + std::to_string(static_cast<int>(dtype)));
}

bool dtype_from_name(const std::string& name, DType* out) {
  for (const auto& d : kDTypes)
    if (name == d.name) {
      *out = d.dtype;
      return true;
    }
  return false;
}

std::string known_dtypes() {
  std::string s;
  for (const auto& d : kDTypes) s += (s.empty() ? "" : ", ") + std::string(d.name);
  return s;
}

std::string shape_str(const std::vector<int64_t>& shape) {
  std::ostringstream os;
  os << '[';
  for (size_t i = 0; i < shape.size(); ++i) os << (i ? ", " : "") << shape[i];
  os << ']';
  return os.str();
}

[[noreturn]] void fail(const std::string& label, const std::string& problem) {
  throw Error(label + ": " + problem);
}

// Element count and byte size of a shape; false when either overflows. The
// element count must also fit int64_t (at::Tensor sizes, TensorView::numel).
bool byte_size(const std::vector<int64_t>& shape, size_t elem_size, uint64_t* numel,
               uint64_t* nbytes) {
  uint64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0) return false;
    if (__builtin_mul_overflow(n, static_cast<uint64_t>(d), &n)) return false;
    if (n > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return false;
  }
  uint64_t b = 0;
  if (__builtin_mul_overflow(n, static_cast<uint64_t>(elem_size), &b)) return false;
  if (b > std::numeric_limits<size_t>::max()) return false;
  *numel = n;
  *nbytes = b;
  return true;
}

// nlohmann::json keeps the last of two equal keys without a word; a parser
// callback sees every key and lets us reject duplicates at any level. It also
// bounds the nesting: a valid header is object -> entry object -> shape array.
json parse_header_json(const uint8_t* begin, const uint8_t* end, const std::string& label) {
  std::vector<std::set<std::string>> open_objects;
  auto callback = [&](int depth, json::parse_event_t event, json& parsed) -> bool {
    switch (event) {
      case json::parse_event_t::object_start:
      case json::parse_event_t::array_start:
        if (depth > 2) fail(label, "JSON header is nested deeper than a safetensors header can be");
        if (event == json::parse_event_t::object_start) open_objects.emplace_back();
        break;
      case json::parse_event_t::object_end:
        open_objects.pop_back();
        break;
      case json::parse_event_t::key: {
        const auto& key = parsed.get_ref<const std::string&>();
        if (!open_objects.back().insert(key).second)
          fail(label, "duplicate key '" + key + "' in the JSON header");
        break;
      }
      default:
        break;
    }
    return true;
  };
  // nlohmann's lexer stops at a NUL byte as if the input ended there, so
  // "{}\0garbage" would pass. NUL is never valid JSON (not even inside a
  // string), so reject it first.
  if (const void* nul = std::memchr(begin, 0, static_cast<size_t>(end - begin)))
    fail(label, "malformed JSON header: NUL byte at offset " +
                    std::to_string(static_cast<const uint8_t*>(nul) - begin));
  try {
    return json::parse(begin, end, callback);
  } catch (const json::exception& e) {
    fail(label, std::string("malformed JSON header: ") + e.what());
  }
}

// One header entry after validation, before it becomes a TensorView.
struct Entry {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  uint64_t begin;
  uint64_t end;
};

std::map<std::string, std::string> parse_metadata(const json& value, const std::string& label) {
  if (!value.is_object())
    fail(label, std::string("__metadata__ must be an object of strings, not ") + value.type_name());
  std::map<std::string, std::string> out;
  for (const auto& [key, v] : value.items()) {
    if (!v.is_string())
      fail(label, "__metadata__ value of '" + key + "' is a " + v.type_name() + ", not a string");
    out.emplace(key, v.get<std::string>());
  }
  return out;
}

Entry parse_entry(const std::string& name, const json& value, uint64_t data_size,
                  const std::string& label) {
  const std::string who = "tensor '" + name + "'";
  if (!value.is_object()) fail(label, who + " entry is a " + value.type_name() + ", not an object");
  for (const auto& [key, v] : value.items()) {
    (void)v;
    if (key != "dtype" && key != "shape" && key != "data_offsets")
      fail(label, who + " has unknown field '" + key + "'");
  }
  for (const char* field : {"dtype", "shape", "data_offsets"})
    if (!value.contains(field)) fail(label, who + " is missing field '" + field + "'");

  Entry e;
  e.name = name;

  const json& dtype = value.at("dtype");
  if (!dtype.is_string()) fail(label, who + " dtype is a " + dtype.type_name() + ", not a string");
  if (!dtype_from_name(dtype.get<std::string>(), &e.dtype))
    fail(label, who + " has unknown dtype '" + dtype.get<std::string>() + "' (expected one of " +
                    known_dtypes() + ")");

  // Non-negative JSON integers parse as number_unsigned; negative ones as
  // number_integer and fractions or huge values as number_float.
  const json& shape = value.at("shape");
  if (!shape.is_array()) fail(label, who + " shape is a " + shape.type_name() + ", not an array");
  for (const json& d : shape) {
    if (d.is_number_integer() && !d.is_number_unsigned())
      fail(label, who + " shape has a negative dimension " + d.dump());
    if (!d.is_number_unsigned() ||
        d.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
      fail(label, who + " shape has an invalid dimension " + d.dump() +
                      " (must be an integer in [0, 2^63))");
    e.shape.push_back(static_cast<int64_t>(d.get<uint64_t>()));
  }
  uint64_t numel = 0, nbytes = 0;
  const size_t elem = info(e.dtype).size;
  if (!byte_size(e.shape, elem, &numel, &nbytes))
    fail(label, who + " shape " + shape_str(e.shape) + " overflows the element count");

  const json& offsets = value.at("data_offsets");
  if (!offsets.is_array() || offsets.size() != 2 || !offsets[0].is_number_unsigned() ||
      !offsets[1].is_number_unsigned())
    fail(label, who + " data_offsets " + offsets.dump() + " is not a pair of non-negative integers");
  e.begin = offsets[0].get<uint64_t>();
  e.end = offsets[1].get<uint64_t>();
  const std::string range = "[" + std::to_string(e.begin) + ", " + std::to_string(e.end) + "]";
  if (e.begin > e.end) fail(label, who + " data_offsets " + range + " are reversed (begin > end)");
  if (e.end > data_size)
    fail(label, who + " data_offsets " + range + " run past the end of the " +
                    std::to_string(data_size) + "-byte data section");
  if (e.end - e.begin != nbytes)
    fail(label, who + " data_offsets " + range + " do not match " + info(e.dtype).name + " x " +
                    shape_str(e.shape) + " = " + std::to_string(nbytes) + " bytes");
  return e;
}

// The tensors must tile [0, data_size) exactly, as the reference reader demands.
void check_tiling(std::vector<const Entry*> entries, uint64_t data_size, const std::string& label) {
  std::sort(entries.begin(), entries.end(), [](const Entry* a, const Entry* b) {
    return std::tie(a->begin, a->end, a->name) < std::tie(b->begin, b->end, b->name);
  });
  uint64_t cursor = 0;
  const Entry* prev = nullptr;
  auto range = [](const Entry* e) {
    return "[" + std::to_string(e->begin) + ", " + std::to_string(e->end) + "]";
  };
  for (const Entry* e : entries) {
    if (e->begin < cursor)
      fail(label, "tensors '" + prev->name + "' " + range(prev) + " and '" + e->name + "' " +
                      range(e) + " overlap");
    if (e->begin > cursor)
      fail(label, "gap of " + std::to_string(e->begin - cursor) + " bytes before tensor '" +
                      e->name + "' " + range(e));
    cursor = e->end;
    prev = e;
  }
  if (cursor != data_size)
    fail(label, std::to_string(data_size - cursor) + " trailing bytes after the last tensor");
}

uint64_t read_le64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

std::string errno_text(int err) { return std::strerror(err); }

std::vector<uint8_t> read_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail(path, "cannot open: " + errno_text(errno));
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0) fail(path, "cannot stat: " + errno_text(errno));
  if (!S_ISREG(st.st_mode)) fail(path, "not a regular file");
  std::vector<uint8_t> bytes(static_cast<size_t>(st.st_size));
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::read(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail(path, "read failed: " + errno_text(errno));
    if (n == 0) fail(path, "file shrank while being read");
    done += static_cast<size_t>(n);
  }
  return bytes;
}

void write_all(int fd, const void* data, size_t size, const std::string& path) {
  const auto* p = static_cast<const uint8_t*>(data);
  while (size > 0) {
    const ssize_t n = ::write(fd, p, size);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail(path, "write failed: " + errno_text(errno));
    p += n;
    size -= static_cast<size_t>(n);
  }
}

// Opens a fresh temporary file next to path. O_EXCL with mode 0666 (not
// mkstemp's 0600) so that the final file gets the usual umask permissions.
int open_temp(const std::string& path, std::string* tmp_path) {
  static std::atomic<uint32_t> counter{0};
  for (int attempt = 0; attempt < 100; ++attempt) {
    const uint64_t seed = static_cast<uint64_t>(::getpid()) * 0x9E3779B97F4A7C15ull ^
                          static_cast<uint64_t>(
                              std::chrono::steady_clock::now().time_since_epoch().count()) ^
                          (static_cast<uint64_t>(counter.fetch_add(1)) << 40);
    char suffix[32];
    std::snprintf(suffix, sizeof suffix, ".tmp-%08x", static_cast<uint32_t>(seed ^ (seed >> 32)));
    *tmp_path = path + suffix;
    const int fd = ::open(tmp_path->c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd >= 0) return fd;
    if (errno != EEXIST) fail(*tmp_path, "cannot create: " + errno_text(errno));
  }
  fail(path, "cannot find a free temporary file name");
}

}  // namespace

size_t dtype_size(DType dtype) { return info(dtype).size; }
const char* dtype_name(DType dtype) { return info(dtype).name; }

int64_t TensorView::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

SafeTensors SafeTensors::open(const std::string& path) { return parse(read_file(path), path); }

SafeTensors SafeTensors::parse(std::vector<uint8_t> bytes, const std::string& label) {
  SafeTensors st;
  st.label_ = label;
  st.bytes_ = std::make_shared<const std::vector<uint8_t>>(std::move(bytes));
  const std::vector<uint8_t>& buf = *st.bytes_;

  if (buf.size() < 8)
    fail(label, "file is " + std::to_string(buf.size()) +
                    " bytes, too short for the 8-byte header length");
  const uint64_t header_len = read_le64(buf.data());
  const uint64_t rest = buf.size() - 8;
  if (header_len > kMaxHeaderBytes)
    fail(label, "header length " + std::to_string(header_len) + " exceeds the " +
                    std::to_string(kMaxHeaderBytes) + "-byte limit");
  if (header_len > rest)
    fail(label, "header length " + std::to_string(header_len) + " is larger than the " +
                    std::to_string(rest) + " bytes that follow it");
  const uint8_t* header = buf.data() + 8;
  const uint8_t* data = header + header_len;
  const uint64_t data_size = rest - header_len;

  const json root = parse_header_json(header, data, label);
  if (!root.is_object())
    fail(label, std::string("JSON header is a ") + root.type_name() + ", not an object");

  std::vector<Entry> entries;
  for (const auto& [key, value] : root.items()) {
    if (key == kMetadataKey)
      st.metadata_ = parse_metadata(value, label);
    else
      entries.push_back(parse_entry(key, value, data_size, label));
  }
  std::vector<const Entry*> ptrs;
  for (const Entry& e : entries) ptrs.push_back(&e);
  check_tiling(ptrs, data_size, label);

  for (const Entry& e : entries) {
    TensorView v;
    v.name = e.name;
    v.dtype = e.dtype;
    v.shape = e.shape;
    v.data = data + e.begin;
    v.nbytes = static_cast<size_t>(e.end - e.begin);
    // A bool byte other than 0 or 1 is undefined behaviour once LibTorch
    // treats it as a C++ bool, so catch it here where the file is named.
    if (v.dtype == DType::BOOL)
      for (size_t i = 0; i < v.nbytes; ++i)
        if (v.data[i] > 1)
          fail(label, "BOOL tensor '" + v.name + "' holds byte " + std::to_string(v.data[i]) +
                          " at element " + std::to_string(i) + " (must be 0 or 1)");
    st.tensors_.push_back(std::move(v));
  }
  std::sort(st.tensors_.begin(), st.tensors_.end(),
            [](const TensorView& a, const TensorView& b) { return a.name < b.name; });
  return st;
}

bool SafeTensors::contains(const std::string& name) const {
  auto it = std::lower_bound(tensors_.begin(), tensors_.end(), name,
                             [](const TensorView& v, const std::string& n) { return v.name < n; });
  return it != tensors_.end() && it->name == name;
}

const TensorView& SafeTensors::at(const std::string& name) const {
  auto it = std::lower_bound(tensors_.begin(), tensors_.end(), name,
                             [](const TensorView& v, const std::string& n) { return v.name < n; });
  if (it == tensors_.end() || it->name != name) fail(label_, "no tensor named '" + name + "'");
  return *it;
}

void write_safetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  std::vector<const TensorToWrite*> sorted;
  for (const auto& t : tensors) sorted.push_back(&t);
  std::sort(sorted.begin(), sorted.end(),
            [](const TensorToWrite* a, const TensorToWrite* b) { return a->name < b->name; });

  // Refuse to write anything our own reader would reject.
  json header = json::object();
  uint64_t offset = 0;
  for (size_t i = 0; i < sorted.size(); ++i) {
    const TensorToWrite& t = *sorted[i];
    const std::string who = "tensor '" + t.name + "'";
    if (t.name == kMetadataKey) fail(path, "a tensor cannot be named __metadata__");
    if (i > 0 && sorted[i - 1]->name == t.name) fail(path, "duplicate " + who);
    uint64_t numel = 0, nbytes = 0;
    if (!byte_size(t.shape, dtype_size(t.dtype), &numel, &nbytes))
      fail(path, who + " has an invalid shape " + shape_str(t.shape));
    if (nbytes != t.nbytes)
      fail(path, who + " has " + std::to_string(t.nbytes) + " bytes but " + dtype_name(t.dtype) +
                     " x " + shape_str(t.shape) + " needs " + std::to_string(nbytes));
    if (t.nbytes > 0 && t.data == nullptr) fail(path, who + " has no data");
    if (t.dtype == DType::BOOL)
      for (size_t b = 0; b < t.nbytes; ++b)
        if (static_cast<const uint8_t*>(t.data)[b] > 1)
          fail(path, "BOOL " + who + " holds a byte other than 0 or 1");
    header[t.name] = {{"dtype", dtype_name(t.dtype)},
                      {"shape", t.shape},
                      {"data_offsets", json::array({offset, offset + nbytes})}};
    offset += nbytes;
  }
  if (!metadata.empty()) header[kMetadataKey] = metadata;

  std::string text;
  try {
    text = header.dump();
  } catch (const json::exception& e) {  // names or metadata that are not UTF-8
    fail(path, std::string("cannot encode the header: ") + e.what());
  }
  // Padding keeps the data section 8-byte aligned in the file.
  text.append((8 - text.size() % 8) % 8, ' ');
  const uint64_t header_len = text.size();
  uint8_t len[8];
  for (int i = 0; i < 8; ++i) len[i] = static_cast<uint8_t>(header_len >> (8 * i));

  std::string tmp;
  const int fd = open_temp(path, &tmp);
  try {
    write_all(fd, len, sizeof len, tmp);
    write_all(fd, text.data(), text.size(), tmp);
    for (const TensorToWrite* t : sorted)
      if (t->nbytes > 0) write_all(fd, t->data, t->nbytes, tmp);
  } catch (...) {
    ::close(fd);
    ::unlink(tmp.c_str());
    throw;
  }
  // close() can report a delayed write error (NFS, full disk).
  if (::close(fd) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    fail(tmp, "close failed: " + errno_text(err));
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    fail(path, "cannot rename " + tmp + " into place: " + errno_text(err));
  }
}

}  // namespace tavce::io
