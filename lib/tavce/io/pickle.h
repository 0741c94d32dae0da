// A Python pickle reader (protocols 0-5, the opcodes torch.save and Python 2/3
// picklers emit for data) that never runs code: classes and functions are
// names. Those the reader models (dict-like collections, _codecs.encode for
// protocol-2 bytes, sets) become plain values; a PickleHooks implementation
// can model more (torch tensors); everything else becomes an opaque Object
// holding its arguments and state.
//
// Hostile input is expected: every read is bounds-checked, the stack and memo
// are checked on each access, and the finished tree must be acyclic and at
// most kMaxPickleDepth containers deep, so later recursive walks over it are
// safe. Any problem is a tavce::Error naming the source and byte offset.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "tavce/io/pickle_value.h"

namespace tavce::io {

constexpr size_t kMaxPickleDepth = 200;

class PickleHooks {
 public:
  virtual ~PickleHooks() = default;
  // The object a persistent id (BINPERSID/PERSID) stands for. The default
  // rejects persistent ids.
  virtual Value persistent_load(const Value& pid);
  // Called for REDUCE and NEWOBJ of module.name (Python 2 module names are
  // mapped to Python 3 ones first). Return true with *out set to model the
  // call; false leaves it to the unpickler.
  virtual bool call(const std::string& module, const std::string& name, const Value& args, Value* out);
};

struct UnpickleResult {
  Value value;
  size_t consumed = 0;  // bytes up to and including the STOP opcode
};

// Reads one pickle from data[0, size), stopping at its STOP opcode (bytes after
// it are left alone: legacy torch files hold several pickles back to back).
// `label` names the source in errors.
UnpickleResult unpickle(const uint8_t* data, size_t size, const std::string& label, PickleHooks* hooks = nullptr);

}  // namespace tavce::io
