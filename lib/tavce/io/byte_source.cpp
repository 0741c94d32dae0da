// POSIX mmap of a whole file, unmapped when the last view lets go.
#include "tavce/io/byte_source.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "tavce/error.h"

namespace tavce::io {
namespace {

struct Mapping {
  void* addr = nullptr;
  size_t size = 0;
  ~Mapping() {
    if (addr != nullptr) ::munmap(addr, size);
  }
};

std::string errno_text() { return std::strerror(errno); }

}  // namespace

ByteSource map_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Error("cannot open '" + path + "': " + errno_text());
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const std::string why = errno_text();
    ::close(fd);
    throw Error("cannot stat '" + path + "': " + why);
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    throw Error("'" + path + "' is not a regular file");
  }
  ByteSource out;
  auto mapping = std::make_shared<Mapping>();
  if (st.st_size > 0) {
    // mmap of length 0 fails, so an empty file is an empty source; the
    // readers report it as too short.
    void* addr = ::mmap(nullptr, static_cast<size_t>(st.st_size), PROT_READ, MAP_PRIVATE, fd, 0);
    if (addr == MAP_FAILED) {
      const std::string why = errno_text();
      ::close(fd);
      throw Error("cannot map '" + path + "': " + why);
    }
    mapping->addr = addr;
    mapping->size = static_cast<size_t>(st.st_size);
    out.data = static_cast<const uint8_t*>(addr);
    out.size = mapping->size;
  }
  ::close(fd);  // the mapping stays valid without the descriptor
  out.owner = std::move(mapping);
  return out;
}

ByteSource bytes_source(std::shared_ptr<const std::vector<uint8_t>> bytes) {
  if (!bytes) throw Error("bytes_source: no buffer");
  ByteSource out;
  out.data = bytes->empty() ? nullptr : bytes->data();
  out.size = bytes->size();
  out.owner = std::move(bytes);
  return out;
}

}  // namespace tavce::io
