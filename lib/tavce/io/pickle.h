// A Python pickle reader (protocols 0-5, the opcodes torch.save and Python 2/3
// picklers emit for data) that never runs code: classes and functions are
// names, and only the names on an explicit allow-list may be used.
//
// The allow-list (docs/reliability.md lists it with the reasons): a global is
// checked where it would take effect, when a REDUCE, NEWOBJ, INST or OBJ
// calls it or when it would remain in the loaded value; any other is refused
// with a tavce::Error naming it. The unpickler itself allows
//   builtins.dict, collections.OrderedDict, collections.Counter  -> dicts
//   builtins.set, builtins.frozenset                               -> sets
//   builtins.bytes, builtins.bytearray, _codecs.encode             -> bytes
//   argparse.Namespace                        -> an inert record of attributes
// (Python 2 names such as __builtin__.set map to these), and a PickleHooks
// implementation allows more by modelling them (torch tensors).
//
// Hostile input is expected: every read is bounds-checked, the stack and memo
// are checked on each access, the values made, the memo and the copying work
// are bounded (UnpickleLimits), and the finished tree must be acyclic and at
// most kMaxPickleDepth containers deep, so later recursive walks over it are
// safe. Any problem is a tavce::Error naming the source and byte offset.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "tavce/io/pickle_value.h"

namespace tavce::io {

constexpr size_t kMaxPickleDepth = 200;

// Bounds on what one pickle may ask for, so that a small hostile file cannot
// take gigabytes or hours. The defaults are far above torch checkpoints (the
// 2 GB facevid2vid checkpoint's pickle, optimiser state included, makes about
// 10^5 values) and keep the worst case near half a GB of memory and a second
// or two of work.
struct UnpickleLimits {
  // Values pushed on the stack (each costs a few dozen bytes or more).
  size_t max_values = size_t{4} << 20;
  // Memo entries (PUT, BINPUT, LONG_BINPUT, MEMOIZE).
  size_t max_memo_entries = size_t{4} << 20;
  // Items copied by calls, BUILD, SETITEM(S) and APPEND(S), plus bytes of
  // keys hashed / 64 and the quadratic cost of long decimal ints: Python's
  // pickle does the same work, which a short file can make quadratic (one
  // large dict BUILT onto an object a million times).
  uint64_t max_work = uint64_t{32} << 20;
};

class PickleHooks {
 public:
  virtual ~PickleHooks() = default;
  // The object a persistent id (BINPERSID/PERSID) stands for. The default
  // rejects persistent ids.
  virtual Value persistent_load(const Value& pid);
  // Called for REDUCE and NEWOBJ of module.name (Python 2 module names are
  // mapped to Python 3 ones first). Return true with *out set to model the
  // call (which puts module.name on the allow-list); false leaves it to the
  // unpickler, which refuses names outside its own allow-list. Throw
  // tavce::Error for arguments the modelled function would reject.
  virtual bool call(const std::string& module, const std::string& name, const Value& args, Value* out);
};

struct UnpickleResult {
  Value value;
  size_t consumed = 0;  // bytes up to and including the STOP opcode
};

// Reads one pickle from data[0, size), stopping at its STOP opcode (bytes after
// it are left alone: legacy torch files hold several pickles back to back).
// `label` names the source in errors.
UnpickleResult unpickle(const uint8_t* data, size_t size, const std::string& label, PickleHooks* hooks = nullptr,
                        const UnpickleLimits& limits = {});

}  // namespace tavce::io
