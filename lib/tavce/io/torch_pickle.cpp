// Storages and tensors out of torch.save pickles (see torch_pickle.h).
#include "tavce/io/torch_pickle.h"

#include <limits>

#include "tavce/error.h"
#include "tavce/io/pickle_internal.h"

namespace tavce::io::torch_detail {
namespace {

struct StorageType {
  const char* name;
  bool has_dtype;
  DType dtype;
  size_t element_size;
};

// Element sizes are needed even for storages we cannot turn into tensors:
// the legacy format stores elements, not bytes, and they must be skipped.
constexpr StorageType kStorageTypes[] = {
    {"FloatStorage", true, DType::F32, 4},    {"DoubleStorage", true, DType::F64, 8},
    {"HalfStorage", true, DType::F16, 2},     {"BFloat16Storage", true, DType::BF16, 2},
    {"LongStorage", true, DType::I64, 8},     {"IntStorage", true, DType::I32, 4},
    {"ShortStorage", true, DType::I16, 2},    {"CharStorage", true, DType::I8, 1},
    {"ByteStorage", true, DType::U8, 1},      {"BoolStorage", true, DType::BOOL, 1},
    {"UntypedStorage", true, DType::U8, 1},   {"ComplexFloatStorage", false, DType::U8, 8},
    {"ComplexDoubleStorage", false, DType::U8, 16}, {"QInt8Storage", false, DType::U8, 1},
    {"QUInt8Storage", false, DType::U8, 1},   {"QInt32Storage", false, DType::U8, 4},
    {"QUInt4x2Storage", false, DType::U8, 1}, {"QUInt2x4Storage", false, DType::U8, 1},
};

const StorageType& storage_type(const Value& cls) {
  if (!cls.is(Value::Kind::Object) || !cls.as_object().is_class_ref)
    throw Error("storage type is a " + cls.type_name() + ", not a torch storage class");
  const Object& o = cls.as_object();
  // Old files may name the CUDA class; its data is saved the same way.
  if (o.module == "torch" || o.module == "torch.cuda")
    for (const StorageType& t : kStorageTypes)
      if (o.name == t.name) return t;
  throw Error("unknown storage type " + o.qualified_name());
}

uint64_t non_negative(const Value& v, const char* what) {
  const int64_t i = v.as_int();
  if (i < 0) throw Error(std::string(what) + " is negative (" + std::to_string(i) + ")");
  return static_cast<uint64_t>(i);
}

uint64_t bytes_of(uint64_t numel, size_t element_size) {
  uint64_t n = 0;
  if (__builtin_mul_overflow(numel, static_cast<uint64_t>(element_size), &n) ||
      n > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
    throw Error("storage of " + std::to_string(numel) + " elements overflows");
  return n;
}

std::vector<int64_t> int_sequence(const Value& v, const char* what) {
  if (!v.is(Value::Kind::Tuple) && !v.is(Value::Kind::List))
    throw Error(std::string(what) + " is a " + v.type_name() + ", not a tuple of ints");
  std::vector<int64_t> out;
  for (const Value& x : v.items()) out.push_back(x.as_int());
  return out;
}

const std::string& key_string(const Value& v, const char* what) {
  if (!v.is(Value::Kind::String)) throw Error(std::string(what) + " is a " + v.type_name() + ", not a str");
  return v.as_string();
}

}  // namespace

TorchHooks::TorchHooks(Layout layout, std::string label, std::function<void(StorageRef&)> bind)
    : layout_(layout), label_(std::move(label)), bind_(std::move(bind)) {}

Value* TorchHooks::find_root(const std::string& key) {
  auto it = root_index_.find(key);
  return it == root_index_.end() ? nullptr : &roots_[it->second].second;
}

Value TorchHooks::persistent_load(const Value& pid) {
  if (!pid.is(Value::Kind::Tuple) || pid.items().empty())
    throw Error("persistent id " + pid.repr() + " is not a torch storage id");
  const std::vector<Value>& f = pid.items();
  const std::string& tag = key_string(f[0], "persistent id tag");
  // ('module', class, source file, source): a legacy save of a whole module,
  // which only its code could rebuild.
  if (tag == "module")
    throw Error("the checkpoint holds a whole module saved by class (" + (f.size() > 1 ? f[1].repr() : "?") +
                "), not a state dict; " +
                (f.size() > 1 && f[1].is(Value::Kind::Object) ? pickle_detail::not_allowed(f[1].as_object().qualified_name())
                                                              : std::string("only state dicts load")));
  if (tag != "storage") throw Error("unknown persistent id " + pid.repr());
  return storage_for(pid);
}

Value TorchHooks::storage_for(const Value& pid) {
  const std::vector<Value>& f = pid.items();
  const size_t expected = layout_ == Layout::Zip ? 5 : 6;
  if (f.size() != expected)
    throw Error("storage id " + pid.repr() + " has " + std::to_string(f.size()) + " fields, expected " +
                std::to_string(expected));
  const StorageType& type = storage_type(f[1]);
  const std::string& key = key_string(f[2], "storage key");
  const std::string& location = key_string(f[3], "storage location");
  const uint64_t numel = non_negative(f[4], "storage size");

  Value* root = find_root(key);
  if (root == nullptr) {
    StorageRef s;
    s.has_dtype = type.has_dtype;
    s.dtype = type.dtype;
    s.element_size = type.element_size;
    s.type_name = type.name;
    s.key = key;
    s.location = location;
    s.nbytes = bytes_of(numel, type.element_size);  // the size the data must have
    root_index_.emplace(key, roots_.size());
    roots_.emplace_back(key, Value::storage(std::move(s)));
    root = &roots_.back().second;
    if (bind_) bind_(root->mutable_storage());
  } else {
    const StorageRef& s = root->as_storage();
    if (s.type_name != type.name || s.nbytes != bytes_of(numel, type.element_size))
      throw Error("storage '" + key + "' is declared twice with different types or sizes");
  }
  if (layout_ == Layout::Zip || f[5].is_none()) return *root;

  // A legacy storage view: (view_key, offset, numel) into the root.
  const Value& view = f[5];
  if (!view.is(Value::Kind::Tuple) || view.items().size() != 3)
    throw Error("storage view " + view.repr() + " is not (key, offset, size)");
  const std::string& view_key = key_string(view.items()[0], "storage view key");
  const uint64_t offset = non_negative(view.items()[1], "storage view offset");
  const uint64_t view_numel = non_negative(view.items()[2], "storage view size");
  auto it = views_.find(view_key);
  if (it != views_.end()) {
    if (it->second.root_key != key || it->second.offset != offset ||
        it->second.storage.as_storage().nbytes != bytes_of(view_numel, type.element_size))
      throw Error("storage view '" + view_key + "' is declared twice differently");
    return it->second.storage;
  }
  if (find_root(view_key) != nullptr) throw Error("storage key '" + view_key + "' names both a storage and a view");
  StorageRef s = root->as_storage();
  s.key = view_key;
  s.nbytes = bytes_of(view_numel, type.element_size);
  s.data = nullptr;
  s.bound = false;
  View v{Value::storage(std::move(s)), key, offset};
  Value out = v.storage;
  views_.emplace(view_key, std::move(v));
  return out;
}

// The torch part of the allow-list (pickle.h): the functions torch.save's
// pickles call, each modelled here, and the storage classes of storage_type()
// (named only inside persistent ids).
bool TorchHooks::call(const std::string& module, const std::string& name, const Value& args, Value* out) {
  if (!args.is(Value::Kind::Tuple)) return false;  // the unpickler reports it
  const std::vector<Value>& a = args.items();
  if (module == "torch._utils") {
    if (name == "_rebuild_tensor" || name == "_rebuild_tensor_v2") {
      if (!a.empty() && a[0].is(Value::Kind::Storage) && !a[0].as_storage().has_dtype) {
        // Complex or quantised: an inert record, so that only asking for
        // this tensor fails, not the whole checkpoint.
        *out = Value::object(module, name, args);
        return true;
      }
      *out = rebuild_tensor(name, args);
      return true;
    }
    if (name == "_rebuild_parameter" || name == "_rebuild_parameter_with_state") {
      if (a.size() != (name == "_rebuild_parameter" ? 3u : 4u))
        throw Error("torch._utils." + name + " with " + std::to_string(a.size()) + " arguments");
      *out = a[0];  // a Parameter is its data for reading weights
      return true;
    }
  }
  if (module == "torch._tensor" && name == "_rebuild_from_type_v2") {
    // (function, tensor subclass, function args, state): rebuild through the
    // function, which must be one of the above, and drop the subclass and its
    // state unused (the subclass's own code would be needed to honour them),
    // so the subclass is the one global that need not be on the allow-list.
    if (a.size() != 4 || !a[0].is(Value::Kind::Object) || !a[0].as_object().is_class_ref)
      throw Error("torch._tensor._rebuild_from_type_v2 with arguments " + args.repr());
    const Object& fn = a[0].as_object();
    // torch never nests it, and refusing to keeps hostile input from
    // recursing here before the tree's depth is checked.
    if (fn.module != "torch._utils" || !call(fn.module, fn.name, a[2], out))
      throw Error("torch._tensor._rebuild_from_type_v2 through " + pickle_detail::not_allowed(fn.qualified_name()));
    return true;
  }
  return false;
}

Value TorchHooks::rebuild_tensor(const std::string& fn, const Value& args) {
  const std::vector<Value>& a = args.items();
  const bool v2 = fn == "_rebuild_tensor_v2";
  if (v2 ? (a.size() != 6 && a.size() != 7) : a.size() != 4)
    throw Error("torch._utils." + fn + " with " + std::to_string(a.size()) + " arguments");
  if (!a[0].is(Value::Kind::Storage)) throw Error("torch._utils." + fn + " on a " + a[0].type_name());
  const StorageRef& s = a[0].as_storage();
  TensorRef t;
  t.dtype = s.dtype;
  t.storage_offset = a[1].as_int();
  t.shape = int_sequence(a[2], "tensor size");
  t.strides = int_sequence(a[3], "tensor stride");
  t.storage_key = s.key;
  Value tensor = Value::tensor(std::move(t));
  tensors_.emplace_back(tensor, a[0]);
  return tensor;
}

void TorchHooks::finish(const std::shared_ptr<const void>& owner) {
  for (auto& [key, root] : roots_)
    if (!root.as_storage().bound) throw Error(label_ + ": storage '" + key + "' has no data in the file");
  for (auto& [view_key, view] : views_) {
    const StorageRef& root = find_root(view.root_key)->as_storage();
    StorageRef& s = view.storage.mutable_storage();
    const uint64_t offset_bytes = bytes_of(view.offset, s.element_size);
    if (offset_bytes > root.nbytes || s.nbytes > root.nbytes - offset_bytes)
      throw Error(label_ + ": storage view '" + view_key + "' (" + std::to_string(s.nbytes) + " bytes at byte " +
                  std::to_string(offset_bytes) + ") lies outside its " + std::to_string(root.nbytes) +
                  "-byte storage '" + view.root_key + "'");
    s.data = root.data == nullptr ? nullptr : root.data + offset_bytes;
    s.bound = true;
  }
  for (auto& [tensor, storage] : tensors_) {
    const StorageRef& s = storage.as_storage();
    TensorRef& t = tensor.mutable_tensor();
    t.storage = s.nbytes == 0 ? nullptr : s.data;
    t.storage_nbytes = s.nbytes;
    t.owner = owner;
    check_tensor_ref(t, label_ + ": tensor on storage '" + s.key + "'");
  }
}

}  // namespace tavce::io::torch_detail
