// The value tree an unpickled PyTorch checkpoint becomes: Python's None, bool,
// int, float, str, bytes, list, tuple and dict, plus tensors (views into the
// checkpoint's storage bytes, see TensorRef), storages and inert objects for
// the few allowed classes the reader does not turn into values
// (argparse.Namespace, sets, complex tensors), which keep their arguments and
// state. Nothing else loads (pickle.h's allow-list).
//
// Values are cheap handles: copies share the underlying node, as objects
// shared through the pickle memo are shared in Python. Containers are mutable
// only while the unpickler builds them; readers see them through const.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "tavce/io/safetensors.h"  // DType

namespace tavce::io {

// A strided view into one storage of a checkpoint, as torch describes a
// tensor: element (i0, i1, ...) lives at
//   storage + (storage_offset + sum_k i_k * strides[k]) * dtype_size(dtype).
// Readers of this library only hand out views validated to lie inside their
// storage; check_tensor_ref() repeats that check for hand-made ones.
struct TensorRef {
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  std::vector<int64_t> strides;      // in elements
  int64_t storage_offset = 0;        // in elements
  const uint8_t* storage = nullptr;  // first byte of the storage (nullptr if empty)
  size_t storage_nbytes = 0;
  std::string storage_key;            // the checkpoint's name for the storage
  std::shared_ptr<const void> owner;  // keeps the checkpoint's bytes alive

  int64_t numel() const;
  // Row-major contiguous (size-1 dimensions may have any stride).
  bool is_contiguous() const;
};

// Views with more elements than their storage (stride 0) may take at most
// this much once read; real ones (tensor.expand() of a bias) take bytes.
constexpr uint64_t kMaxRepeatedViewBytes = uint64_t{256} << 20;

// Throws tavce::Error (prefixed by `who`) unless shape, strides and offset are
// sane, every element of the view lies inside the storage bytes, and a view
// with more elements than its storage stays under kMaxRepeatedViewBytes.
void check_tensor_ref(const TensorRef& ref, const std::string& who);

// A storage: the flat bytes tensors view. `data` is bound once the reader has
// located the bytes (the legacy format stores them after the pickle).
struct StorageRef {
  bool has_dtype = true;  // false for storage types without a DType (complex, quantised)
  DType dtype = DType::U8;
  size_t element_size = 1;
  std::string type_name;  // "FloatStorage", ...
  std::string key;
  std::string location;  // "cpu", "cuda:0", ...
  const uint8_t* data = nullptr;
  size_t nbytes = 0;
  bool bound = false;
};

class Dict;
struct Object;

class Value {
 public:
  enum class Kind { None, Bool, Int, BigInt, Float, String, Bytes, List, Tuple, Dict, Tensor, Storage, Object };

  Value() = default;  // None
  static Value boolean(bool v);
  static Value integer(int64_t v);
  // An int too large for int64: its minimal little-endian two's complement bytes.
  static Value big_integer(std::string le_bytes);
  static Value floating(double v);
  static Value string(std::string s);  // Python str (UTF-8) or Python 2 str
  static Value bytes(std::string b);
  static Value list(std::vector<Value> items = {});
  static Value tuple(std::vector<Value> items);
  static Value dict();
  static Value tensor(TensorRef ref);
  static Value storage(StorageRef ref);
  // An instance (or, with is_class_ref, a bare reference) of module.name.
  static Value object(std::string module, std::string name, Value args, bool is_class_ref = false);

  Kind kind() const { return kind_; }
  bool is(Kind k) const { return kind_ == k; }
  bool is_none() const { return kind_ == Kind::None; }
  bool is_container() const;  // list, tuple, dict or object: may hold other values

  // Typed access; each throws tavce::Error naming the actual kind on mismatch.
  bool as_bool() const;
  int64_t as_int() const;
  const std::string& as_big_integer() const;
  double as_float() const;
  const std::string& as_string() const;
  const std::string& as_bytes() const;
  const std::vector<Value>& items() const;  // list or tuple
  const Dict& as_dict() const;
  const TensorRef& as_tensor() const;
  const StorageRef& as_storage() const;
  const Object& as_object() const;

  // For the reader that builds the tree.
  std::vector<Value>& mutable_items();
  Dict& mutable_dict();
  TensorRef& mutable_tensor();
  StorageRef& mutable_storage();
  Object& mutable_object();

  // Identity of the shared node (nullptr for scalars): equal for copies.
  const void* node() const { return node_.get(); }
  // "list", "dict", "argparse.Namespace object", ...
  std::string type_name() const;
  // A short Python-like rendering for error messages, at most about max_chars.
  std::string repr(size_t max_chars = 80) const;

  struct Node {
    virtual ~Node() = default;
  };

 private:
  Value(Kind kind, std::shared_ptr<Node> node) : kind_(kind), node_(std::move(node)) {}
  template <class T>
  T& node_as(Kind k, const char* what) const;

  Kind kind_ = Kind::None;
  union {
    bool b_;
    int64_t i_;
    double f_;
  } scalar_{};
  std::shared_ptr<Node> node_;
};

const char* kind_name(Value::Kind kind);

// Insertion-ordered dict. str and int keys (all a checkpoint uses) are indexed;
// a key of another hashable kind is appended without a duplicate check.
class Dict {
 public:
  // Replaces the value of an equal str/int key, as Python does; throws
  // tavce::Error for unhashable keys (list, dict).
  void set(Value key, Value value);
  const Value* find(const std::string& key) const;
  const Value* find(int64_t key) const;
  const std::vector<std::pair<Value, Value>>& items() const { return items_; }
  // Moves every item out and empties the dict (for dismantling a tree).
  std::vector<std::pair<Value, Value>> take_items();
  size_t size() const { return items_.size(); }
  bool empty() const { return items_.empty(); }
  void clear();

 private:
  std::vector<std::pair<Value, Value>> items_;
  std::unordered_map<std::string, size_t> str_index_;
  std::unordered_map<int64_t, size_t> int_index_;
};

// An instance of a class the reader does not model, or a bare class/function
// reference (GLOBAL) never called.
struct Object {
  std::string module, name;
  bool is_class_ref = false;
  Value args;                     // constructor/REDUCE arguments (a tuple), None if none
  Value state;                    // BUILD argument (usually the instance __dict__), None if none
  std::vector<Value> list_items;  // APPEND(S) onto it (list subclasses, sets)
  Dict dict_items;                // SETITEM(S) onto it (dict subclasses)

  std::string qualified_name() const { return module.empty() ? name : module + "." + name; }
};

}  // namespace tavce::io
