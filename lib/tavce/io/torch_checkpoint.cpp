// TorchCheckpoint: picks the layout by the file's first bytes, and the
// key-path lookups that turn a loaded tree into a state dict.
#include "tavce/io/torch_checkpoint.h"

#include <charconv>
#include <cstring>
#include <set>

#include "tavce/error.h"
#include "tavce/io/crc32.h"
#include "tavce/io/torch_formats.h"

namespace tavce::io {
namespace {

bool starts_with(const ByteSource& s, const char* magic, size_t n) {
  return s.size >= n && std::memcmp(s.data, magic, n) == 0;
}

// torch before 0.1.10 saved a tar archive ("ustar" at byte 257).
bool is_tar(const ByteSource& s) { return s.size >= 262 && std::memcmp(s.data + 257, "ustar", 5) == 0; }

std::string key_text(const Value& key) {
  if (key.is(Value::Kind::String)) return key.as_string();
  if (key.is(Value::Kind::Int)) return std::to_string(key.as_int());
  return key.repr();
}

const Dict* dict_of(const Value& v) {
  if (v.is(Value::Kind::Dict)) return &v.as_dict();
  // A dict subclass pickled by class (not an OrderedDict) keeps its items here.
  if (v.is(Value::Kind::Object) && !v.as_object().dict_items.empty()) return &v.as_object().dict_items;
  return nullptr;
}

const Value* lookup(const Dict& d, const std::string& key) {
  if (const Value* v = d.find(key)) return v;
  // Optimiser state dicts use int keys ("state.0").
  int64_t i = 0;
  const char* end = key.data() + key.size();
  auto [p, ec] = std::from_chars(key.data(), end, i);
  if (ec == std::errc() && p == end && !key.empty()) return d.find(i);
  return nullptr;
}

std::string keys_of(const Dict& d, size_t max_keys) {
  std::string out;
  size_t shown = 0;
  for (const auto& item : d.items()) {
    if (shown == max_keys) {
      out += ", ... (" + std::to_string(d.size() - shown) + " more)";
      break;
    }
    out += (shown++ ? ", " : "") + key_text(item.first);
  }
  return out.empty() ? "(none)" : out;
}

}  // namespace

TorchCheckpoint TorchCheckpoint::open(const std::string& path) { return parse(map_file(path), path); }

TorchCheckpoint TorchCheckpoint::parse(ByteSource source, const std::string& label) {
  TorchCheckpoint ck;
  ck.label_ = label;
  if (starts_with(source, "PK\x03\x04", 4)) {
    ck.format_ = Format::Zip;
    ck.root_ = torch_detail::load_zip(source, label, &ck.storage_crc_);
  } else if (is_tar(source)) {
    throw Error(label + ": tar-format checkpoint (torch before 0.1.10) is not supported; re-save it with a newer torch");
  } else if (starts_with(source, "\x80", 1)) {
    ck.format_ = Format::Legacy;
    ck.root_ = torch_detail::load_legacy(source, label);
  } else {
    throw Error(label + ": not a PyTorch checkpoint (neither a zip archive nor a pickle)");
  }
  return ck;
}

std::vector<std::string> TorchCheckpoint::top_level_keys() const { return io::top_level_keys(root_); }

std::map<std::string, TensorRef> TorchCheckpoint::state_dict(const std::string& key_path) const {
  std::map<std::string, TensorRef> tensors = state_dict_at(root_, key_path, label_);
  if (format_ == Format::Zip) {
    std::set<std::string> checked;
    for (const auto& [name, t] : tensors) {
      if (!checked.insert(t.storage_key).second) continue;
      auto it = storage_crc_.find(t.storage_key);
      if (it == storage_crc_.end()) throw Error(label_ + ": no CRC for storage '" + t.storage_key + "'");
      if (crc32(t.storage, t.storage_nbytes) != it->second)
        throw Error(label_ + ": CRC mismatch in storage '" + t.storage_key + "' (tensor '" + name +
                    "'): the file is corrupt");
    }
  }
  return tensors;
}

std::map<std::string, TensorRef> state_dict_at(const Value& root, const std::string& key_path,
                                               const std::string& label) {
  const Value* cur = &root;
  std::string walked;  // the part of key_path resolved so far
  size_t pos = 0;
  while (pos < key_path.size()) {
    const Dict* d = dict_of(*cur);
    const std::string rest = key_path.substr(pos);
    if (d == nullptr)
      throw Error(label + ": " + (walked.empty() ? "the checkpoint" : "'" + walked + "'") + " is a " + cur->type_name() +
                  ", not a dict, so it has no key '" + rest + "'");
    // Longest dotted prefix of the rest that is a key, so that "a.b" finds a
    // key "a.b" as well as root["a"]["b"].
    const Value* found = nullptr;
    size_t used = rest.size();
    while (true) {
      found = lookup(*d, rest.substr(0, used));
      if (found != nullptr) break;
      const size_t dot = used == 0 ? std::string::npos : rest.rfind('.', used - 1);
      if (dot == std::string::npos || dot == 0) break;
      used = dot;
    }
    if (found == nullptr) {
      const std::string first = rest.substr(0, rest.find('.'));
      throw Error("no key '" + first + "' in " + label +
                  (walked.empty() ? "; top-level keys: " : " under '" + walked + "'; keys there: ") + keys_of(*d, 40));
    }
    walked += (walked.empty() ? "" : ".") + rest.substr(0, used);
    cur = found;
    pos += used + 1;  // past the dot
  }

  const Dict* d = dict_of(*cur);
  const std::string where = walked.empty() ? "the checkpoint root" : "'" + walked + "'";
  if (d == nullptr) throw Error(label + ": " + where + " is a " + cur->type_name() + ", not a state dict");
  std::map<std::string, TensorRef> out;
  for (const auto& [key, value] : d->items()) {
    if (!key.is(Value::Kind::String) && !key.is(Value::Kind::Int))
      throw Error(label + ": " + where + " has a " + key.type_name() + " key " + key.repr() + ", not a state dict key");
    const std::string name = key_text(key);
    if (!value.is(Value::Kind::Tensor))
      throw Error(label + ": entry '" + name + "' of " + where + " is a " + value.type_name() + ", not a tensor");
    if (!out.emplace(name, value.as_tensor()).second)
      throw Error(label + ": " + where + " has the key '" + name + "' twice");
  }
  return out;
}

std::vector<std::string> top_level_keys(const Value& root) {
  std::vector<std::string> out;
  if (const Dict* d = dict_of(root))
    for (const auto& item : d->items()) out.push_back(key_text(item.first));
  return out;
}

std::string describe_keys(const Value& dict, size_t max_keys) {
  const Dict* d = dict_of(dict);
  return d == nullptr ? "(not a dict: " + dict.type_name() + ")" : keys_of(*d, max_keys);
}

}  // namespace tavce::io
