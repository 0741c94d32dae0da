// Value handles, Dict and the tensor view check (see pickle_value.h).
#include "tavce/io/pickle_value.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>

#include "tavce/error.h"

namespace tavce::io {
namespace {

// torch caps tensors at 64 dimensions (at::Tensor's limit in practice); more
// means a corrupt shape, and the cap bounds the work of checking a view.
constexpr size_t kMaxDims = 64;

struct StringNode : Value::Node {
  std::string s;
};
struct SeqNode : Value::Node {
  std::vector<Value> items;
};
struct DictNode : Value::Node {
  Dict d;
};
struct TensorNode : Value::Node {
  TensorRef t;
};
struct StorageNode : Value::Node {
  StorageRef s;
};
struct ObjectNode : Value::Node {
  Object o;
};

std::string shape_str(const std::vector<int64_t>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
  return s + "]";
}

}  // namespace

// ---- TensorRef --------------------------------------------------------------

int64_t TensorRef::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

bool TensorRef::is_contiguous() const {
  int64_t expected = 1;
  for (size_t k = shape.size(); k-- > 0;) {
    if (shape[k] == 0) return true;
    if (shape[k] != 1 && strides[k] != expected) return false;
    expected *= shape[k];
  }
  return true;
}

void check_tensor_ref(const TensorRef& ref, const std::string& who) {
  auto fail = [&](const std::string& what) { throw Error(who + ": " + what); };
  if (ref.shape.size() != ref.strides.size())
    fail("shape " + shape_str(ref.shape) + " and strides " + shape_str(ref.strides) + " differ in length");
  if (ref.shape.size() > kMaxDims) fail(std::to_string(ref.shape.size()) + " dimensions (at most 64)");
  if (ref.storage_offset < 0) fail("negative storage offset " + std::to_string(ref.storage_offset));
  const uint64_t esize = dtype_size(ref.dtype);
  if (ref.storage_nbytes % esize != 0)
    fail("storage of " + std::to_string(ref.storage_nbytes) + " bytes is not a whole number of " +
         dtype_name(ref.dtype) + " elements");
  if (ref.storage_nbytes > 0 && ref.storage == nullptr) fail("storage has no data");
  const uint64_t storage_numel = ref.storage_nbytes / esize;
  uint64_t numel = 1;
  for (size_t k = 0; k < ref.shape.size(); ++k) {
    if (ref.shape[k] < 0 || ref.strides[k] < 0)
      fail("negative size or stride in shape " + shape_str(ref.shape) + ", strides " + shape_str(ref.strides));
    if (__builtin_mul_overflow(numel, static_cast<uint64_t>(ref.shape[k]), &numel) ||
        numel > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
      fail("shape " + shape_str(ref.shape) + " overflows");
  }
  if (numel == 0) return;  // touches no element, so any offset is harmless (torch agrees)
  // The highest element index the view reaches; every index lies in
  // [offset, last] because sizes and strides are non-negative.
  uint64_t last = static_cast<uint64_t>(ref.storage_offset);
  for (size_t k = 0; k < ref.shape.size(); ++k) {
    uint64_t step = 0;
    if (__builtin_mul_overflow(static_cast<uint64_t>(ref.shape[k] - 1), static_cast<uint64_t>(ref.strides[k]),
                               &step) ||
        __builtin_add_overflow(last, step, &last))
      fail("strides " + shape_str(ref.strides) + " overflow");
  }
  if (last >= storage_numel)
    fail("view (shape " + shape_str(ref.shape) + ", strides " + shape_str(ref.strides) + ", offset " +
         std::to_string(ref.storage_offset) + ") reaches element " + std::to_string(last) + " of a storage of " +
         std::to_string(storage_numel) + " " + dtype_name(ref.dtype) + " elements");
  // A view may reach the same element several times (stride 0, as
  // tensor.expand() saves; overlapping strides), so its element count is not
  // bounded by the file. Reading it allocates numel elements: a few bytes of
  // storage must not be able to claim terabytes.
  uint64_t view_bytes = 0;
  if (numel > storage_numel &&
      (__builtin_mul_overflow(numel, esize, &view_bytes) || view_bytes > kMaxRepeatedViewBytes))
    fail("shape " + shape_str(ref.shape) + " has " + std::to_string(numel) + " elements, more than its " +
         std::to_string(storage_numel) + "-element storage holds, and reading them would take more than " +
         std::to_string(kMaxRepeatedViewBytes >> 20) + " MiB");
}

// ---- Value ------------------------------------------------------------------

const char* kind_name(Value::Kind kind) {
  switch (kind) {
    case Value::Kind::None: return "None";
    case Value::Kind::Bool: return "bool";
    case Value::Kind::Int: return "int";
    case Value::Kind::BigInt: return "int";
    case Value::Kind::Float: return "float";
    case Value::Kind::String: return "str";
    case Value::Kind::Bytes: return "bytes";
    case Value::Kind::List: return "list";
    case Value::Kind::Tuple: return "tuple";
    case Value::Kind::Dict: return "dict";
    case Value::Kind::Tensor: return "tensor";
    case Value::Kind::Storage: return "storage";
    case Value::Kind::Object: return "object";
  }
  return "?";
}

Value Value::boolean(bool v) {
  Value out;
  out.kind_ = Kind::Bool;
  out.scalar_.b_ = v;
  return out;
}

Value Value::integer(int64_t v) {
  Value out;
  out.kind_ = Kind::Int;
  out.scalar_.i_ = v;
  return out;
}

Value Value::floating(double v) {
  Value out;
  out.kind_ = Kind::Float;
  out.scalar_.f_ = v;
  return out;
}

Value Value::big_integer(std::string le_bytes) {
  auto n = std::make_shared<StringNode>();
  n->s = std::move(le_bytes);
  return Value(Kind::BigInt, std::move(n));
}

Value Value::string(std::string s) {
  auto n = std::make_shared<StringNode>();
  n->s = std::move(s);
  return Value(Kind::String, std::move(n));
}

Value Value::bytes(std::string b) {
  auto n = std::make_shared<StringNode>();
  n->s = std::move(b);
  return Value(Kind::Bytes, std::move(n));
}

Value Value::list(std::vector<Value> items) {
  auto n = std::make_shared<SeqNode>();
  n->items = std::move(items);
  return Value(Kind::List, std::move(n));
}

Value Value::tuple(std::vector<Value> items) {
  auto n = std::make_shared<SeqNode>();
  n->items = std::move(items);
  return Value(Kind::Tuple, std::move(n));
}

Value Value::dict() { return Value(Kind::Dict, std::make_shared<DictNode>()); }

Value Value::tensor(TensorRef ref) {
  auto n = std::make_shared<TensorNode>();
  n->t = std::move(ref);
  return Value(Kind::Tensor, std::move(n));
}

Value Value::storage(StorageRef ref) {
  auto n = std::make_shared<StorageNode>();
  n->s = std::move(ref);
  return Value(Kind::Storage, std::move(n));
}

Value Value::object(std::string module, std::string name, Value args, bool is_class_ref) {
  auto n = std::make_shared<ObjectNode>();
  n->o.module = std::move(module);
  n->o.name = std::move(name);
  n->o.args = std::move(args);
  n->o.is_class_ref = is_class_ref;
  return Value(Kind::Object, std::move(n));
}

bool Value::is_container() const {
  return kind_ == Kind::List || kind_ == Kind::Tuple || kind_ == Kind::Dict || kind_ == Kind::Object;
}

template <class T>
T& Value::node_as(Kind k, const char* what) const {
  if (kind_ != k) throw Error(std::string("expected ") + what + ", got " + type_name());
  return *static_cast<T*>(node_.get());
}

bool Value::as_bool() const {
  if (kind_ != Kind::Bool) throw Error("expected bool, got " + type_name());
  return scalar_.b_;
}

int64_t Value::as_int() const {
  if (kind_ == Kind::BigInt) throw Error("int " + repr() + " does not fit in 64 bits");
  if (kind_ != Kind::Int) throw Error("expected int, got " + type_name());
  return scalar_.i_;
}

const std::string& Value::as_big_integer() const { return node_as<StringNode>(Kind::BigInt, "big int").s; }

double Value::as_float() const {
  if (kind_ == Kind::Int) return static_cast<double>(scalar_.i_);  // Python accepts an int for a float
  if (kind_ != Kind::Float) throw Error("expected float, got " + type_name());
  return scalar_.f_;
}

const std::string& Value::as_string() const { return node_as<StringNode>(Kind::String, "str").s; }
const std::string& Value::as_bytes() const { return node_as<StringNode>(Kind::Bytes, "bytes").s; }

const std::vector<Value>& Value::items() const {
  if (kind_ != Kind::List && kind_ != Kind::Tuple) throw Error("expected list or tuple, got " + type_name());
  return static_cast<SeqNode*>(node_.get())->items;
}

std::vector<Value>& Value::mutable_items() {
  if (kind_ != Kind::List && kind_ != Kind::Tuple) throw Error("expected list or tuple, got " + type_name());
  return static_cast<SeqNode*>(node_.get())->items;
}

const Dict& Value::as_dict() const { return node_as<DictNode>(Kind::Dict, "dict").d; }
Dict& Value::mutable_dict() { return node_as<DictNode>(Kind::Dict, "dict").d; }
const TensorRef& Value::as_tensor() const { return node_as<TensorNode>(Kind::Tensor, "tensor").t; }
TensorRef& Value::mutable_tensor() { return node_as<TensorNode>(Kind::Tensor, "tensor").t; }
const StorageRef& Value::as_storage() const { return node_as<StorageNode>(Kind::Storage, "storage").s; }
StorageRef& Value::mutable_storage() { return node_as<StorageNode>(Kind::Storage, "storage").s; }
const Object& Value::as_object() const { return node_as<ObjectNode>(Kind::Object, "object").o; }
Object& Value::mutable_object() { return node_as<ObjectNode>(Kind::Object, "object").o; }

std::string Value::type_name() const {
  if (kind_ == Kind::Object) {
    const Object& o = static_cast<ObjectNode*>(node_.get())->o;
    return o.qualified_name() + (o.is_class_ref ? " (class reference)" : " object");
  }
  if (kind_ == Kind::Tensor) {
    const TensorRef& t = static_cast<TensorNode*>(node_.get())->t;
    return std::string(dtype_name(t.dtype)) + " tensor " + shape_str(t.shape);
  }
  return kind_name(kind_);
}

namespace {

// Appends a bounded rendering: every call first checks the output against
// `limit`, so the walk stops early however large (or shared) the tree is.
void render(const Value& v, std::string& out, size_t limit) {
  if (out.size() >= limit) return;
  switch (v.kind()) {
    case Value::Kind::None: out += "None"; return;
    case Value::Kind::Bool: out += v.as_bool() ? "True" : "False"; return;
    case Value::Kind::Int: out += std::to_string(v.as_int()); return;
    case Value::Kind::BigInt: {
      const std::string& b = v.as_big_integer();
      out += "0x";
      char buf[4];
      for (size_t i = b.size(); i-- > 0;) {
        std::snprintf(buf, sizeof buf, "%02x", static_cast<unsigned char>(b[i]));
        out += buf;
      }
      return;
    }
    case Value::Kind::Float: {
      // Shortest text that reads back as the same double, like Python's repr.
      char buf[32];
      for (int precision = 1; precision <= 17; ++precision) {
        std::snprintf(buf, sizeof buf, "%.*g", precision, v.as_float());
        if (std::strtod(buf, nullptr) == v.as_float()) break;
      }
      out += buf;
      return;
    }
    case Value::Kind::String:
    case Value::Kind::Bytes: {
      const std::string& s = v.kind() == Value::Kind::String ? v.as_string() : v.as_bytes();
      out += v.kind() == Value::Kind::String ? "'" : "b'";
      for (char c : s) {
        if (out.size() >= limit) break;
        out += (c >= 0x20 && c < 0x7f) ? c : '?';
      }
      out += "'";
      return;
    }
    case Value::Kind::List:
    case Value::Kind::Tuple: {
      const bool list = v.kind() == Value::Kind::List;
      out += list ? "[" : "(";
      bool first = true;
      for (const Value& item : v.items()) {
        if (out.size() >= limit) break;
        if (!first) out += ", ";
        first = false;
        render(item, out, limit);
      }
      out += list ? "]" : ")";
      return;
    }
    case Value::Kind::Dict: {
      out += "{";
      bool first = true;
      for (const auto& [key, value] : v.as_dict().items()) {
        if (out.size() >= limit) break;
        if (!first) out += ", ";
        first = false;
        render(key, out, limit);
        out += ": ";
        render(value, out, limit);
      }
      out += "}";
      return;
    }
    case Value::Kind::Tensor: out += "<" + v.type_name() + ">"; return;
    case Value::Kind::Storage: {
      const StorageRef& s = v.as_storage();
      out += "<" + s.type_name + " '" + s.key + "'>";
      return;
    }
    case Value::Kind::Object: out += "<" + v.type_name() + ">"; return;
  }
}

}  // namespace

std::string Value::repr(size_t max_chars) const {
  std::string out;
  render(*this, out, max_chars);
  if (out.size() > max_chars) out = out.substr(0, max_chars) + "...";
  return out;
}

// ---- Dict -------------------------------------------------------------------

void Dict::set(Value key, Value value) {
  switch (key.kind()) {
    case Value::Kind::List:
    case Value::Kind::Dict: throw Error("unhashable dict key of type " + key.type_name());
    case Value::Kind::String: {
      auto [it, inserted] = str_index_.emplace(key.as_string(), items_.size());
      if (!inserted) {
        items_[it->second].second = std::move(value);
        return;
      }
      break;
    }
    case Value::Kind::Int: {
      auto [it, inserted] = int_index_.emplace(key.as_int(), items_.size());
      if (!inserted) {
        items_[it->second].second = std::move(value);
        return;
      }
      break;
    }
    default: break;
  }
  items_.emplace_back(std::move(key), std::move(value));
}

const Value* Dict::find(const std::string& key) const {
  auto it = str_index_.find(key);
  return it == str_index_.end() ? nullptr : &items_[it->second].second;
}

const Value* Dict::find(int64_t key) const {
  auto it = int_index_.find(key);
  return it == int_index_.end() ? nullptr : &items_[it->second].second;
}

void Dict::clear() {
  items_.clear();
  str_index_.clear();
  int_index_.clear();
}

std::vector<std::pair<Value, Value>> Dict::take_items() {
  std::vector<std::pair<Value, Value>> out = std::move(items_);
  clear();
  return out;
}

}  // namespace tavce::io
