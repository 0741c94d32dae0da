// The few Python callables the unpickler models itself (see pickle_internal.h),
// which with argparse.Namespace are its whole allow-list of globals: any other
// call is refused. They are the ones plain data needs: torch state dicts are
// OrderedDicts, learning-rate schedulers keep Counters (MultiStepLR's
// milestones), protocol 2 under Python 3 spells bytes as
// _codecs.encode(str, 'latin1'), and training scripts save their
// argparse.Namespace beside the weights.
#include "tavce/error.h"
#include "tavce/io/pickle_internal.h"

namespace tavce::io::pickle_detail {
namespace {

bool is_dict_class(const std::string& module, const std::string& name) {
  return (module == "collections" && (name == "OrderedDict" || name == "Counter")) ||
         (module == "builtins" && name == "dict");
}

// dict(x) / OrderedDict(x): x is a dict or a sequence of key-value pairs
// (Python 2's OrderedDict pickles itself as a list of [key, value] lists).
void fill_dict(Dict& d, const Value& source) {
  if (source.is(Value::Kind::Dict)) {
    for (const auto& [k, v] : source.as_dict().items()) d.set(k, v);
    return;
  }
  if (!source.is(Value::Kind::List) && !source.is(Value::Kind::Tuple))
    throw Error("cannot make a dict from a " + source.type_name());
  for (const Value& pair : source.items()) {
    if ((!pair.is(Value::Kind::List) && !pair.is(Value::Kind::Tuple)) || pair.items().size() != 2)
      throw Error("dict item " + pair.repr() + " is not a key-value pair");
    d.set(pair.items()[0], pair.items()[1]);
  }
}

// str -> bytes for the encodings protocol 2 uses; latin-1 maps each code
// point below 256 to one byte.
std::string encode(const std::string& utf8, const std::string& encoding) {
  if (encoding == "utf-8" || encoding == "utf8") return utf8;
  if (encoding != "latin1" && encoding != "latin-1" && encoding != "iso-8859-1")
    throw Error("_codecs.encode with unsupported encoding '" + encoding + "'");
  std::string out;
  out.reserve(utf8.size());
  for (size_t i = 0; i < utf8.size();) {
    const auto c = static_cast<unsigned char>(utf8[i]);
    if (c < 0x80) {
      out += static_cast<char>(c);
      ++i;
    } else if ((c & 0xE0) == 0xC0 && i + 1 < utf8.size()) {
      const uint32_t cp = (c & 0x1Fu) << 6 | (static_cast<unsigned char>(utf8[i + 1]) & 0x3Fu);
      if (cp > 0xFF) throw Error("_codecs.encode: code point above 255 for latin-1");
      out += static_cast<char>(cp);
      i += 2;
    } else {
      throw Error("_codecs.encode: code point above 255 for latin-1");
    }
  }
  return out;
}

std::string bytes_from_ints(const Value& seq) {
  std::string out;
  for (const Value& v : seq.items()) {
    const int64_t b = v.as_int();
    if (b < 0 || b > 255) throw Error("bytes() item " + std::to_string(b) + " is not in 0..255");
    out += static_cast<char>(b);
  }
  return out;
}

}  // namespace

std::string py3_module(const std::string& module) {
  if (module == "__builtin__") return "builtins";
  if (module == "copy_reg") return "copyreg";
  return module;
}

std::string not_allowed(const std::string& qualified_name) {
  return "global '" + qualified_name +
         "' is not on the allow-list of the checkpoint reader (plain data, state dicts and tensors only; "
         "docs/reliability.md lists what loads)";
}

Value call_builtin(const Value& callable, const Value& args, bool newobj) {
  const char* op = newobj ? "NEWOBJ" : "REDUCE";
  if (!callable.is(Value::Kind::Object) || !callable.as_object().is_class_ref)
    throw Error(std::string(op) + " on a " + callable.type_name() + ", not a global on the allow-list");
  const Object& c = callable.as_object();
  const std::string& module = c.module;
  const std::string& name = c.name;
  const bool allowed = is_dict_class(module, name) || (!newobj && module == "_codecs" && name == "encode") ||
                       (module == "builtins" &&
                        (name == "bytes" || name == "bytearray" || name == "set" || name == "frozenset")) ||
                       (module == "argparse" && name == "Namespace");
  if (!allowed) throw Error(not_allowed(c.qualified_name()));
  if (!args.is(Value::Kind::Tuple))
    throw Error(std::string(op) + " arguments are a " + args.type_name() + ", not a tuple");
  const std::vector<Value>& a = args.items();

  if (is_dict_class(module, name)) {
    Value d = Value::dict();
    if (newobj) return d;  // __new__ arguments do not fill a dict
    if (a.size() > 1) throw Error(c.qualified_name() + "() with " + std::to_string(a.size()) + " arguments");
    if (a.size() == 1) fill_dict(d.mutable_dict(), a[0]);
    return d;
  }
  if (!newobj && module == "_codecs" && name == "encode") {
    if (a.size() != 2) throw Error("_codecs.encode with " + std::to_string(a.size()) + " arguments");
    return Value::bytes(encode(a[0].as_string(), a[1].as_string()));
  }
  if (module == "builtins" && (name == "bytes" || name == "bytearray")) {
    if (a.empty() || newobj) return Value::bytes("");
    if (a.size() == 2) return Value::bytes(encode(a[0].as_string(), a[1].as_string()));
    if (a.size() == 1 && (a[0].is(Value::Kind::List) || a[0].is(Value::Kind::Tuple)))
      return Value::bytes(bytes_from_ints(a[0]));
    if (a.size() == 1 && a[0].is(Value::Kind::Bytes)) return a[0];
    throw Error("builtins." + name + " with arguments " + args.repr());
  }
  if (module == "builtins" && (name == "set" || name == "frozenset")) {
    Value s = Value::object("builtins", name, Value());
    if (!newobj && a.size() == 1) s.mutable_object().list_items = a[0].items();
    else if (!newobj && !a.empty()) throw Error("builtins." + name + " with " + std::to_string(a.size()) + " arguments");
    return s;
  }
  // argparse.Namespace: an inert record; its attributes arrive through BUILD.
  if (!a.empty()) throw Error("argparse.Namespace with " + std::to_string(a.size()) + " arguments");
  return Value::object(module, name, args);
}

void build(Value& target, Value state) {
  switch (target.kind()) {
    case Value::Kind::Object: {
      Object& o = target.mutable_object();
      if (o.state.is(Value::Kind::Dict) && state.is(Value::Kind::Dict)) {
        for (const auto& [k, v] : state.as_dict().items()) o.state.mutable_dict().set(k, v);
      } else {
        o.state = std::move(state);
      }
      return;
    }
    case Value::Kind::Dict:
    case Value::Kind::List:
    case Value::Kind::Tensor:
    case Value::Kind::Storage: return;
    default: throw Error("BUILD on a " + target.type_name());
  }
}

}  // namespace tavce::io::pickle_detail
