// The legacy torch.save layout (torch 0.1.10 to 1.5, and later with
// _use_new_zipfile_serialization=False), several pickles back to back:
//   magic number 0x1950a86a20f9469cfc6c, protocol version 1001, sys_info dict,
//   the object (storages as persistent ids),
//   the list of storage keys, sorted as strings,
// and then, per key in that order, an int64 little-endian element count
// followed by the storage's raw little-endian elements.
#include <cstring>

#include "tavce/error.h"
#include "tavce/io/little_endian.h"
#include "tavce/io/pickle.h"
#include "tavce/io/torch_formats.h"
#include "tavce/io/torch_pickle.h"

namespace tavce::io::torch_detail {
namespace {

// 0x1950a86a20f9469cfc6c as the minimal little-endian bytes LONG1 carries.
const std::string kMagic("\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19", 10);
constexpr int64_t kProtocolVersion = 1001;

}  // namespace

Value load_legacy(const ByteSource& source, const std::string& label) {
  size_t pos = 0;
  auto next = [&](const char* what, PickleHooks* hooks) {
    UnpickleResult r = unpickle(source.data + pos, source.size - pos, label + " (" + what + ")", hooks);
    pos += r.consumed;
    return r.value;
  };

  const Value magic = next("magic number", nullptr);
  if (!magic.is(Value::Kind::BigInt) || magic.as_big_integer() != kMagic)
    throw Error(label + ": not a torch.save file (the legacy magic number is " + magic.repr() + ")");
  const Value version = next("protocol version", nullptr);
  if (!version.is(Value::Kind::Int) || version.as_int() != kProtocolVersion)
    throw Error(label + ": legacy protocol version " + version.repr() + ", expected 1001");
  const Value sys_info = next("sys_info", nullptr);
  if (!sys_info.is(Value::Kind::Dict)) throw Error(label + ": sys_info is a " + sys_info.type_name() + ", not a dict");
  if (const Value* little = sys_info.as_dict().find(std::string("little_endian")))
    if (!little->is(Value::Kind::Bool) || !little->as_bool())
      throw Error(label + ": the checkpoint was saved on a big-endian machine; only little-endian is supported");

  TorchHooks hooks(TorchHooks::Layout::Legacy, label);
  Value root = next("object", &hooks);

  const Value keys = next("storage keys", nullptr);
  if (!keys.is(Value::Kind::List)) throw Error(label + ": storage key list is a " + keys.type_name());
  for (const Value& k : keys.items()) {
    if (!k.is(Value::Kind::String)) throw Error(label + ": storage key " + k.repr() + " is not a str");
    const std::string& key = k.as_string();
    Value* storage = hooks.find_root(key);
    if (storage == nullptr) throw Error(label + ": storage key '" + key + "' is not used by the object");
    StorageRef& s = storage->mutable_storage();
    if (s.bound) throw Error(label + ": storage key '" + key + "' is listed twice");
    if (source.size - pos < 8) throw Error(label + ": truncated: storage '" + key + "' has no element count");
    const int64_t count = le::i64(source.data + pos);
    pos += 8;
    if (count < 0 || static_cast<uint64_t>(count) != s.nbytes / s.element_size)
      throw Error(label + ": storage '" + key + "' holds " + std::to_string(count) + " elements but the object declares " +
                  std::to_string(s.nbytes / s.element_size));
    if (source.size - pos < s.nbytes)
      throw Error(label + ": truncated: storage '" + key + "' needs " + std::to_string(s.nbytes) + " bytes at byte " +
                  std::to_string(pos) + ", the file has " + std::to_string(source.size - pos) + " left");
    s.data = s.nbytes == 0 ? nullptr : source.data + pos;
    s.bound = true;
    pos += s.nbytes;
  }
  hooks.finish(source.owner);
  return root;
}

}  // namespace tavce::io::torch_detail
