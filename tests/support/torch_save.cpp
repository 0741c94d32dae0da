#include "support/torch_save.h"

#include <cstdint>
#include <fstream>
#include <vector>

#include <ATen/ATen.h>

#include "tavce/error.h"
#include "tavce/io/crc32.h"

namespace tavce::testing {

namespace {

void put_u16(std::vector<uint8_t>& b, uint32_t v) {
  b.push_back(v & 0xff);
  b.push_back((v >> 8) & 0xff);
}
void put_u32(std::vector<uint8_t>& b, uint32_t v) {
  put_u16(b, v & 0xffff);
  put_u16(b, v >> 16);
}

// Pickle protocol 2 opcodes, as torch.save emits them.
struct Pickler {
  std::vector<uint8_t> out{0x80, 2};  // PROTO 2
  void op(char c) { out.push_back(static_cast<uint8_t>(c)); }
  void str(const std::string& s) {  // BINUNICODE
    op('X');
    put_u32(out, static_cast<uint32_t>(s.size()));
    out.insert(out.end(), s.begin(), s.end());
  }
  void integer(int64_t v) {  // BININT (the values here fit in 32 bits)
    if (v < INT32_MIN || v > INT32_MAX) throw Error("torch_save: integer out of BININT range");
    op('J');
    put_u32(out, static_cast<uint32_t>(static_cast<int32_t>(v)));
  }
  void global(const std::string& module, const std::string& name) {
    op('c');
    out.insert(out.end(), module.begin(), module.end());
    out.push_back('\n');
    out.insert(out.end(), name.begin(), name.end());
    out.push_back('\n');
  }
  void ordered_dict() {  // collections.OrderedDict()
    global("collections", "OrderedDict");
    op(')');
    op('R');
  }
  void int_tuple(const std::vector<int64_t>& v) {
    op('(');
    for (int64_t x : v) integer(x);
    op('t');
  }
};

struct Entry {
  std::string name;
  std::vector<uint8_t> data;
};

// Pickles `tensors` as an OrderedDict of _rebuild_tensor_v2 calls; each
// storage becomes a zip entry in `files`.
void pickle_state_dict(Pickler& p, std::vector<Entry>& files, int& storage, const nn::TensorMap& tensors) {
  p.ordered_dict();
  p.op('(');
  for (const auto& [key, value] : tensors) {
    const bool floating = at::isFloatingType(value.scalar_type());
    const at::Tensor t = value.to(floating ? at::kFloat : at::kLong).contiguous().cpu();
    const std::string id = std::to_string(storage++);
    p.str(key);
    p.global("torch._utils", "_rebuild_tensor_v2");
    p.op('(');
    p.op('(');  // persistent id: ('storage', FloatStorage, key, 'cpu', numel)
    p.str("storage");
    p.global("torch", floating ? "FloatStorage" : "LongStorage");
    p.str(id);
    p.str("cpu");
    p.integer(t.numel());
    p.op('t');
    p.op('Q');  // BINPERSID
    p.integer(0);
    p.int_tuple(t.sizes().vec());
    p.int_tuple(t.strides().vec());
    p.op('\x89');  // NEWFALSE: requires_grad
    p.ordered_dict();  // backward hooks
    p.op('t');
    p.op('R');
    const auto* bytes = static_cast<const uint8_t*>(t.data_ptr());
    files.push_back({"archive/data/" + id, std::vector<uint8_t>(bytes, bytes + t.nbytes())});
  }
  p.op('u');  // SETITEMS into the OrderedDict
}

void write_zip(const std::string& path, std::vector<Entry> files, const Pickler& p);

}  // namespace

void write_torch_checkpoint(const std::string& path, const std::map<std::string, nn::TensorMap>& entries,
                            const std::map<std::string, int64_t>& ints) {
  Pickler p;
  std::vector<Entry> files;
  int storage = 0;
  p.op('}');  // EMPTY_DICT
  p.op('(');  // MARK
  for (const auto& [entry, tensors] : entries) {
    p.str(entry);
    pickle_state_dict(p, files, storage, tensors);
  }
  for (const auto& [entry, value] : ints) {
    p.str(entry);
    p.integer(value);
  }
  p.op('u');  // SETITEMS into the top dict
  p.op('.');
  write_zip(path, std::move(files), p);
}

void write_torch_state_dict(const std::string& path, const nn::TensorMap& tensors) {
  Pickler p;
  std::vector<Entry> files;
  int storage = 0;
  pickle_state_dict(p, files, storage, tensors);
  p.op('.');
  write_zip(path, std::move(files), p);
}

namespace {

void write_zip(const std::string& path, std::vector<Entry> files, const Pickler& p) {
  files.insert(files.begin(), {"archive/data.pkl", p.out});
  files.push_back({"archive/version", {'3', '\n'}});

  // A stored (uncompressed) zip: local headers + data, central directory,
  // end record. Written entry by entry: the full-size fakes are hundreds of MB.
  std::ofstream f(path, std::ios::binary);
  const auto write = [&](const std::vector<uint8_t>& bytes) {
    f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  };
  std::vector<uint8_t> central;
  uint64_t offset = 0;
  for (Entry& e : files) {
    if (offset + e.data.size() + 1024 > UINT32_MAX) throw Error("torch_save: " + path + " would need zip64");
    const uint32_t crc = io::crc32(e.data.data(), e.data.size());
    std::vector<uint8_t> local;
    put_u32(local, 0x04034b50);
    put_u16(local, 20); put_u16(local, 0); put_u16(local, 0); put_u16(local, 0); put_u16(local, 0);
    put_u32(local, crc);
    put_u32(local, static_cast<uint32_t>(e.data.size()));
    put_u32(local, static_cast<uint32_t>(e.data.size()));
    put_u16(local, static_cast<uint32_t>(e.name.size()));
    put_u16(local, 0);
    local.insert(local.end(), e.name.begin(), e.name.end());

    put_u32(central, 0x02014b50);
    put_u16(central, 20); put_u16(central, 20); put_u16(central, 0); put_u16(central, 0);
    put_u16(central, 0); put_u16(central, 0);
    put_u32(central, crc);
    put_u32(central, static_cast<uint32_t>(e.data.size()));
    put_u32(central, static_cast<uint32_t>(e.data.size()));
    put_u16(central, static_cast<uint32_t>(e.name.size()));
    put_u16(central, 0); put_u16(central, 0); put_u16(central, 0); put_u16(central, 0);
    put_u32(central, 0);
    put_u32(central, static_cast<uint32_t>(offset));
    central.insert(central.end(), e.name.begin(), e.name.end());

    write(local);
    write(e.data);
    offset += local.size() + e.data.size();
    std::vector<uint8_t>().swap(e.data);  // written: free it
  }
  std::vector<uint8_t> end;
  put_u32(end, 0x06054b50);
  put_u16(end, 0); put_u16(end, 0);
  put_u16(end, static_cast<uint32_t>(files.size()));
  put_u16(end, static_cast<uint32_t>(files.size()));
  put_u32(end, static_cast<uint32_t>(central.size()));
  put_u32(end, static_cast<uint32_t>(offset));
  put_u16(end, 0);
  write(central);
  write(end);
  f.close();
  if (!f) throw Error("torch_save: cannot write " + path);
}

}  // namespace
}  // namespace tavce::testing
