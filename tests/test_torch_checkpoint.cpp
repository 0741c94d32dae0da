// Check tests for the PyTorch checkpoint reader (tavce/io/torch_checkpoint.h,
// the pickle machine under it) and its LibTorch bridge (tavce/io/checkpoint.h).
//
// Independent truths used here: the fixtures in tests/data/checkpoints were
// written by real torch.save (or by hand and then loaded by real torch.load),
// and expected.json records what torch.load returned for each of them: every
// tensor's dtype, shape, strides, storage offset, storage size, storage
// sharing and values, and every plain value. Python's own pickler wrote the
// plain pickles, with their values in a tagged JSON form. Elements are decoded
// here from the IEEE 754 definitions, not by the library. Hostile pickles are
// assembled byte by byte from the opcode table.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <ATen/ops/equal.h>
#include <nlohmann/json.hpp>

#include "tavce/error.h"
#include "tavce/io/byte_source.h"
#include "tavce/io/checkpoint.h"
#include "tavce/io/crc32.h"
#include "tavce/io/pickle.h"
#include "tavce/io/torch_checkpoint.h"
#include "tavce/io/torch_pickle.h"

// Last: check.h defines a macro named fail that breaks std::ios::fail().
#include <check.h>

namespace fs = std::filesystem;
using namespace std::string_literals;  // "...\x00..."s keeps embedded NULs
using json = nlohmann::json;
using tavce::io::DType;
using tavce::io::TensorRef;
using tavce::io::TorchCheckpoint;
using tavce::io::Value;

namespace {

// ---- fixtures --------------------------------------------------------------

fs::path fixture_dir() {
  if (const char* d = std::getenv("TAVCE_TEST_DATA_DIR")) return fs::path(d) / "checkpoints";
  return fs::path(__FILE__).parent_path() / "data" / "checkpoints";
}

fs::path fixture(const std::string& name) { return fixture_dir() / name; }

std::vector<uint8_t> read_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  ck_assert_msg(in.good(), "cannot read %s", p.c_str());
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

const json& expected() {
  static const json j = [] {
    std::ifstream in(fixture("expected.json"));
    ck_assert_msg(in.good(), "cannot read expected.json in %s", fixture_dir().c_str());
    return json::parse(in);
  }();
  return j;
}

TorchCheckpoint parse_bytes(std::vector<uint8_t> bytes, const std::string& label) {
  return TorchCheckpoint::parse(
      tavce::io::bytes_source(std::make_shared<const std::vector<uint8_t>>(std::move(bytes))), label);
}

Value unpickle_str(const std::string& bytes) {
  return tavce::io::unpickle(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "test").value;
}

// Runs f and returns the tavce::Error message; fails the test if f returns
// normally or throws anything else.
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const tavce::Error& e) {
    return e.what();
  } catch (const std::exception& e) {
    ck_abort_msg("expected tavce::Error, got another exception: %s", e.what());
  }
  ck_abort_msg("expected tavce::Error, but it succeeded");
  return {};
}

#define ASSERT_ERROR_HAS(expr, needle)                                                    \
  do {                                                                                    \
    const std::string msg_ = error_of([&] { (void)(expr); });                             \
    const std::string needle_ = (needle);                                                 \
    ck_assert_msg(msg_.find(needle_) != std::string::npos, "error '%s' lacks '%s'", msg_.c_str(), \
                  needle_.c_str());                                                       \
  } while (0)

// ---- element decoding, from the format definitions ---------------------------

// IEEE 754 binary16 -> double.
double half_to_double(uint16_t h) {
  const int sign = h >> 15, exponent = (h >> 10) & 0x1f, mantissa = h & 0x3ff;
  double v;
  if (exponent == 0) v = std::ldexp(mantissa, -24);
  else if (exponent == 0x1f) v = mantissa ? NAN : INFINITY;
  else v = std::ldexp(mantissa + 1024, exponent - 25);
  return sign ? -v : v;
}

// bfloat16 is the upper half of a float32.
double bf16_to_double(uint16_t h) {
  const uint32_t bits = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

template <class T>
T load(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

json decode(const uint8_t* p, DType dtype) {
  switch (dtype) {
    case DType::BOOL: return *p != 0;
    case DType::U8: return *p;
    case DType::I8: return load<int8_t>(p);
    case DType::I16: return load<int16_t>(p);
    case DType::I32: return load<int32_t>(p);
    case DType::I64: return load<int64_t>(p);
    case DType::F16: return half_to_double(load<uint16_t>(p));
    case DType::BF16: return bf16_to_double(load<uint16_t>(p));
    case DType::F32: return static_cast<double>(load<float>(p));
    case DType::F64: return load<double>(p);
  }
  return nullptr;
}

// Every element of the view in row-major order, read through its strides;
// asserts each read lies inside the storage (and ASan watches the rest).
std::vector<json> elements(const TensorRef& t) {
  std::vector<json> out;
  const int64_t n = t.numel();
  if (n == 0) return out;
  const size_t esize = tavce::io::dtype_size(t.dtype);
  std::vector<int64_t> idx(t.shape.size(), 0);
  for (int64_t count = 0; count < n; ++count) {
    int64_t off = t.storage_offset;
    for (size_t k = 0; k < idx.size(); ++k) off += idx[k] * t.strides[k];
    ck_assert_msg(off >= 0 && static_cast<size_t>(off + 1) * esize <= t.storage_nbytes, "element outside storage");
    out.push_back(decode(t.storage + off * esize, t.dtype));
    for (size_t k = idx.size(); k-- > 0;) {
      if (++idx[k] < t.shape[k]) break;
      idx[k] = 0;
    }
  }
  return out;
}

// ---- the value tree, flattened as make_fixtures.py's describe() does --------

std::string key_text(const Value& k) {
  if (k.is(Value::Kind::String)) return k.as_string();
  if (k.is(Value::Kind::Int)) return std::to_string(k.as_int());
  ck_abort_msg("unexpected key %s", k.repr().c_str());
  return {};
}

void flatten(const Value& v, const std::string& prefix, std::map<std::string, Value>& out) {
  switch (v.kind()) {
    case Value::Kind::Dict:
      for (const auto& [k, x] : v.as_dict().items())
        flatten(x, prefix.empty() ? key_text(k) : prefix + "." + key_text(k), out);
      return;
    case Value::Kind::List:
    case Value::Kind::Tuple: {
      size_t i = 0;
      for (const Value& x : v.items()) flatten(x, prefix + "[" + std::to_string(i++) + "]", out);
      return;
    }
    case Value::Kind::Object: {
      const auto& o = v.as_object();
      ck_assert_msg(o.qualified_name() == "argparse.Namespace", "unexpected object %s", o.qualified_name().c_str());
      flatten(o.state, prefix + "@", out);
      return;
    }
    default: out[prefix] = v;
  }
}

void check_scalar(const std::string& name, const Value& v, const json& want) {
  const char* n = name.c_str();
  if (want.is_null()) ck_assert_msg(v.is_none(), "%s: want None, got %s", n, v.repr().c_str());
  else if (want.is_boolean()) ck_assert_msg(v.is(Value::Kind::Bool) && v.as_bool() == want.get<bool>(), "%s", n);
  else if (want.is_number_integer())
    ck_assert_msg(v.is(Value::Kind::Int) && v.as_int() == want.get<int64_t>(), "%s: got %s", n, v.repr().c_str());
  else if (want.is_number_float())
    ck_assert_msg(v.is(Value::Kind::Float) && v.as_float() == want.get<double>(), "%s: got %s", n, v.repr().c_str());
  else if (want.is_string())
    ck_assert_msg(v.is(Value::Kind::String) && v.as_string() == want.get<std::string>(), "%s", n);
  else ck_abort_msg("%s: unexpected expectation", n);
}

void check_tensor(const std::string& name, const TensorRef& t, const json& want,
                  std::map<int, const uint8_t*>& group_ptr, std::map<const uint8_t*, int>& ptr_group) {
  const char* n = name.c_str();
  ck_assert_msg(want.is_object() && want.contains("dtype"), "%s: torch did not load a tensor here", n);
  ck_assert_msg(want["dtype"] == tavce::io::dtype_name(t.dtype), "%s: dtype %s", n, tavce::io::dtype_name(t.dtype));
  ck_assert_msg(want["shape"].get<std::vector<int64_t>>() == t.shape, "%s: shape", n);
  ck_assert_msg(want["stride"].get<std::vector<int64_t>>() == t.strides, "%s: strides", n);
  ck_assert_msg(want["offset"].get<int64_t>() == t.storage_offset, "%s: storage offset", n);
  ck_assert_msg(want["storage_nbytes"].get<size_t>() == t.storage_nbytes, "%s: storage size %zu", n, t.storage_nbytes);
  ck_assert_msg(t.owner != nullptr, "%s: no owner", n);
  const std::vector<json> got = elements(t);
  const json& values = want["values"];
  ck_assert_msg(values.size() == got.size(), "%s: %zu values, want %zu", n, got.size(), values.size());
  for (size_t i = 0; i < got.size(); ++i)
    ck_assert_msg(got[i] == values[i], "%s[%zu]: got %s want %s", n, i, got[i].dump().c_str(), values[i].dump().c_str());
  // Storage sharing: the same torch storage <=> the same bytes here.
  if (t.storage_nbytes == 0) return;
  const int group = want["storage_group"].get<int>();
  auto [g, new_group] = group_ptr.emplace(group, t.storage);
  ck_assert_msg(g->second == t.storage, "%s: torch shares storage group %d, we do not", n, group);
  auto [p, new_ptr] = ptr_group.emplace(t.storage, group);
  ck_assert_msg(p->second == group, "%s: we share a storage torch does not", n);
  (void)new_group;
  (void)new_ptr;
}

void check_against_torch(const TorchCheckpoint& ck, const json& want) {
  ck_assert_msg((ck.format() == TorchCheckpoint::Format::Zip) == (want["format"] == "zip"), "%s: format",
                ck.label().c_str());
  ck_assert_msg(ck.top_level_keys() == want["top_level_keys"].get<std::vector<std::string>>(), "%s: top-level keys",
                ck.label().c_str());
  std::map<std::string, Value> flat;
  flatten(ck.root(), "", flat);
  const json& entries = want["entries"];
  ck_assert_msg(flat.size() == entries.size(), "%s: %zu entries, torch has %zu", ck.label().c_str(), flat.size(),
                entries.size());
  std::map<int, const uint8_t*> group_ptr;
  std::map<const uint8_t*, int> ptr_group;
  for (const auto& [name, w] : entries.items()) {
    auto it = flat.find(name);
    ck_assert_msg(it != flat.end(), "%s: missing entry %s", ck.label().c_str(), name.c_str());
    if (it->second.is(Value::Kind::Tensor)) check_tensor(name, it->second.as_tensor(), w, group_ptr, ptr_group);
    else check_scalar(name, it->second, w);
  }
}

const char* const kTorchFiles[] = {"mapping_zip.pth.tar", "mapping_legacy.pth.tar", "mapping_proto4.pth",
                                   "mapping_zip64.pth.tar", "bn_root.pth", "bn_root_legacy.pth",
                                   "module_prefixed.pth", "old_style_legacy.model"};

// ---- plain pickles against Python's tagged values -----------------------------

std::string hex(const std::string& b) {
  static const char* d = "0123456789abcdef";
  std::string out;
  for (unsigned char c : b) {
    out += d[c >> 4];
    out += d[c & 15];
  }
  return out;
}

// Signed decimal of a little-endian two's complement byte string.
std::string big_decimal(const std::string& le) {
  std::vector<uint8_t> mag(le.begin(), le.end());
  const bool negative = !mag.empty() && (mag.back() & 0x80);
  if (negative) {  // two's complement negation
    for (auto& b : mag) b = static_cast<uint8_t>(~b);
    for (auto& b : mag)
      if (++b != 0) break;
  }
  std::string digits;
  while (std::any_of(mag.begin(), mag.end(), [](uint8_t b) { return b != 0; })) {
    unsigned rem = 0;
    for (size_t i = mag.size(); i-- > 0;) {
      const unsigned cur = rem << 8 | mag[i];
      mag[i] = static_cast<uint8_t>(cur / 10);
      rem = cur % 10;
    }
    digits += static_cast<char>('0' + rem);
  }
  if (digits.empty()) digits = "0";
  if (negative) digits += '-';
  return std::string(digits.rbegin(), digits.rend());
}

void check_tagged(const Value& v, const json& want, const std::string& where) {
  const char* w = where.c_str();
  ck_assert_msg(want.is_object() && want.size() == 1, "%s: bad expectation", w);
  const std::string tag = want.begin().key();
  const json& x = want.begin().value();
  if (tag == "none") {
    ck_assert_msg(v.is_none(), "%s", w);
  } else if (tag == "bool") {
    ck_assert_msg(v.is(Value::Kind::Bool) && v.as_bool() == x.get<bool>(), "%s", w);
  } else if (tag == "int") {
    const std::string got = v.is(Value::Kind::Int) ? std::to_string(v.as_int())
                            : v.is(Value::Kind::BigInt) ? big_decimal(v.as_big_integer())
                                                        : "not an int";
    ck_assert_msg(got == x.get<std::string>(), "%s: %s vs %s", w, got.c_str(), x.get<std::string>().c_str());
    if (v.is(Value::Kind::BigInt)) ck_assert_msg(v.as_big_integer().size() > 8, "%s: BigInt that fits 64 bits", w);
  } else if (tag == "float") {
    ck_assert_msg(v.is(Value::Kind::Float) && v.as_float() == x.get<double>(), "%s", w);
  } else if (tag == "str") {
    ck_assert_msg(v.is(Value::Kind::String) && v.as_string() == x.get<std::string>(), "%s", w);
  } else if (tag == "bytes") {
    ck_assert_msg(v.is(Value::Kind::Bytes) && hex(v.as_bytes()) == x.get<std::string>(), "%s: %s", w,
                  v.repr().c_str());
  } else if (tag == "list" || tag == "tuple") {
    ck_assert_msg(v.is(tag == "list" ? Value::Kind::List : Value::Kind::Tuple), "%s: %s", w, v.type_name().c_str());
    ck_assert_msg(v.items().size() == x.size(), "%s: length", w);
    for (size_t i = 0; i < x.size(); ++i) check_tagged(v.items()[i], x[i], where + "[" + std::to_string(i) + "]");
  } else if (tag == "dict") {
    ck_assert_msg(v.is(Value::Kind::Dict) && v.as_dict().size() == x.size(), "%s: dict", w);
    for (size_t i = 0; i < x.size(); ++i) {
      check_tagged(v.as_dict().items()[i].first, x[i][0], where + ".key" + std::to_string(i));
      check_tagged(v.as_dict().items()[i].second, x[i][1], where + ".value" + std::to_string(i));
    }
  } else if (tag == "set" || tag == "frozenset") {
    ck_assert_msg(v.is(Value::Kind::Object) && v.as_object().qualified_name() == "builtins." + tag, "%s: %s", w,
                  v.type_name().c_str());
    const auto& items = v.as_object().list_items;
    ck_assert_msg(items.size() == x.size(), "%s: set size", w);
    for (size_t i = 0; i < x.size(); ++i) check_tagged(items[i], x[i], where + "{" + std::to_string(i) + "}");
  } else {
    ck_abort_msg("%s: unknown tag %s", w, tag.c_str());
  }
}

// ---- tests: loading ----------------------------------------------------------

START_TEST(test_crc32) {
  const std::string s = "123456789";
  const auto* p = reinterpret_cast<const uint8_t*>(s.data());
  ck_assert_uint_eq(tavce::io::crc32(p, s.size()), 0xCBF43926u);  // the standard check value
  ck_assert_uint_eq(tavce::io::crc32(p, 0), 0u);
  // Continuing across arbitrary splits equals one pass (exercises the 8-byte path and the tail).
  std::vector<uint8_t> big(1000);
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<uint8_t>(i * 131 + 7);
  const uint32_t whole = tavce::io::crc32(big.data(), big.size());
  for (size_t cut : {0u, 1u, 7u, 8u, 9u, 500u, 999u})
    ck_assert_uint_eq(tavce::io::crc32(big.data() + cut, big.size() - cut, tavce::io::crc32(big.data(), cut)), whole);
}
END_TEST

// Every fixture matches what torch.load returned for it, entry for entry.
START_TEST(test_fixtures_match_torch) {
  for (const char* name : kTorchFiles) {
    const TorchCheckpoint ck = TorchCheckpoint::open(fixture(name).string());
    check_against_torch(ck, expected()[name]);
  }
}
END_TEST

// The same from memory, and the copy in memory is what the views point into.
START_TEST(test_parse_from_memory) {
  std::vector<uint8_t> bytes = read_bytes(fixture("mapping_zip.pth.tar"));
  const uint8_t* base = nullptr;
  auto owned = std::make_shared<const std::vector<uint8_t>>(std::move(bytes));
  base = owned->data();
  const size_t size = owned->size();
  const TorchCheckpoint ck = TorchCheckpoint::parse(tavce::io::bytes_source(owned), "memory");
  owned.reset();  // the checkpoint keeps the bytes alive
  check_against_torch(ck, expected()["mapping_zip.pth.tar"]);
  for (const auto& [name, t] : ck.state_dict("mapping"))
    if (t.storage_nbytes > 0) ck_assert_msg(t.storage >= base && t.storage + t.storage_nbytes <= base + size, "%s", name.c_str());
}
END_TEST

START_TEST(test_plain_pickles) {
  const json& want = expected()["pickles"];
  for (const auto& file : want["files"]) {
    const std::vector<uint8_t> bytes = read_bytes(fixture(file.get<std::string>()));
    const auto r = tavce::io::unpickle(bytes.data(), bytes.size(), file.get<std::string>());
    ck_assert_uint_eq(r.consumed, bytes.size());
    check_tagged(r.value, want["value"], file.get<std::string>());
    // Objects shared through the memo stay shared.
    const Value* shared = r.value.as_dict().find(std::string("shared"));
    const Value* again = r.value.as_dict().find(std::string("again"));
    ck_assert(shared && again && shared->node() == again->node());
  }
  const std::vector<uint8_t> loop = read_bytes(fixture("recursive.pkl"));
  ASSERT_ERROR_HAS(tavce::io::unpickle(loop.data(), loop.size(), "recursive.pkl"), "reference cycle");
}
END_TEST

START_TEST(test_state_dict_paths) {
  const TorchCheckpoint ck = TorchCheckpoint::open(fixture("mapping_zip.pth.tar").string());
  const auto mapping = ck.state_dict("mapping");
  std::vector<std::string> keys;
  for (const auto& kv : mapping) keys.push_back(kv.first);
  const std::vector<std::string> want = {"empty", "enc.a", "enc.b", "expanded", "fc_exp.weight", "fc_t.bias",
                                         "fc_t.weight", "first.0.bias", "first.0.weight", "scale", "steps"};
  ck_assert(keys == want);
  ck_assert_uint_eq(ck.state_dict("nested.inner").count("w"), 1);
  ck_assert_uint_eq(ck.state_dict("optimizer.state.1").size(), 3);  // int key 1
  ck_assert_uint_eq(ck.state_dict("dtypes").size(), 7);
  // The same through the free function, without the CRC pass.
  ck_assert_uint_eq(tavce::io::state_dict_at(ck.root(), "mapping", "x").size(), 11);

  const TorchCheckpoint bn = TorchCheckpoint::open(fixture("bn_root.pth").string());
  ck_assert_uint_eq(bn.state_dict("").size(), 7);
  ck_assert_int_eq(bn.state_dict("").at("1.num_batches_tracked").numel(), 1);

  ASSERT_ERROR_HAS(ck.state_dict("mappin"),
                   "no key 'mappin' in " + fixture("mapping_zip.pth.tar").string() +
                       "; top-level keys: mapping, dtypes, nested, epoch, optimizer, args");
  ASSERT_ERROR_HAS(ck.state_dict("nested.outer"), "no key 'outer' in");
  ASSERT_ERROR_HAS(ck.state_dict("nested.outer"), "under 'nested'; keys there: inner");
  ASSERT_ERROR_HAS(ck.state_dict("epoch"), "'epoch' is a int, not a state dict");
  ASSERT_ERROR_HAS(ck.state_dict("epoch.x"), "'epoch' is a int, not a dict");
  ASSERT_ERROR_HAS(ck.state_dict(""), "entry 'mapping' of the checkpoint root is a dict, not a tensor");
  ASSERT_ERROR_HAS(ck.state_dict("optimizer.param_groups"), "is a list, not a state dict");
  ASSERT_ERROR_HAS(ck.state_dict("mapping.enc.a"), "not a state dict");
  const std::string described = tavce::io::describe_keys(ck.root(), 2);
  ck_assert_str_eq(described.c_str(), "mapping, dtypes, ... (4 more)");
}
END_TEST

START_TEST(test_file_errors) {
  ASSERT_ERROR_HAS(TorchCheckpoint::open(fixture("deflated.pth").string()), "is compressed (method 8)");
  ASSERT_ERROR_HAS(TorchCheckpoint::open(fixture("big_endian.pth").string()), "big-endian");
  ASSERT_ERROR_HAS(TorchCheckpoint::open(fixture("no_such_file.pth").string()), "cannot open");
  ASSERT_ERROR_HAS(TorchCheckpoint::open(fixture_dir().string()), "not a regular file");
  ASSERT_ERROR_HAS(TorchCheckpoint::open(fixture("plain_p2.pkl").string()), "not a torch.save file");
  ASSERT_ERROR_HAS(TorchCheckpoint::open(fixture("make_fixtures.py").string()), "not a PyTorch checkpoint");
  ASSERT_ERROR_HAS(parse_bytes({}, "empty"), "empty: not a PyTorch checkpoint");
  std::vector<uint8_t> tar(1024, 0);
  std::memcpy(tar.data() + 257, "ustar", 5);
  ASSERT_ERROR_HAS(parse_bytes(tar, "old.tar"), "tar-format checkpoint");

  // A legacy file whose sys_info says big-endian.
  std::vector<uint8_t> legacy = read_bytes(fixture("mapping_legacy.pth.tar"));
  const std::string marker = "little_endian";
  auto it = std::search(legacy.begin(), legacy.end(), marker.begin(), marker.end());
  ck_assert(it != legacy.end());
  it = std::find(it, legacy.end(), uint8_t{0x88});  // NEWTRUE
  ck_assert(it != legacy.end());
  *it = 0x89;  // NEWFALSE
  ASSERT_ERROR_HAS(parse_bytes(legacy, "be.pth"), "big-endian machine");
}
END_TEST

// A flipped byte in the weights leaves the zip's structure intact; the CRC
// check of state_dict() catches it, for the storages asked for only.
START_TEST(test_crc_detects_corrupt_weights) {
  const std::vector<uint8_t> bytes = read_bytes(fixture("mapping_zip.pth.tar"));
  auto owned = std::make_shared<const std::vector<uint8_t>>(bytes);
  const TorchCheckpoint ck = TorchCheckpoint::parse(tavce::io::bytes_source(owned), "good");
  const TensorRef w = ck.state_dict("mapping").at("first.0.weight");
  const size_t at = static_cast<size_t>(w.storage - owned->data()) + 5;
  std::vector<uint8_t> bad = bytes;
  bad[at] ^= 0x10;
  const TorchCheckpoint broken = parse_bytes(bad, "bad.pth");
  ASSERT_ERROR_HAS(broken.state_dict("mapping"), "CRC mismatch in storage");
  ck_assert_uint_eq(broken.state_dict("dtypes").size(), 7);
}
END_TEST

// ---- tests: hand-made pickles ------------------------------------------------

START_TEST(test_text_and_rare_opcodes) {
  // Protocol 0: MARK DICT PUT, INT, LONG, LIST, APPEND, FLOAT, I01, GET, and a
  // Python 2 module name.
  const Value d = unpickle_str(
      "(dp0\nI1\nI12\nsI2\n(lp1\nI3\naF2.5\nasI3\nI01\nsI4\ng1\nsI5\nL-12345678901L\n"
      "sI6\nc__builtin__\nset\n((I5\nI6\nltRs.");
  const auto& dict = d.as_dict();
  ck_assert_int_eq(dict.find(int64_t{1})->as_int(), 12);
  const Value& l = *dict.find(int64_t{2});
  ck_assert_uint_eq(l.items().size(), 2);
  ck_assert_int_eq(l.items()[0].as_int(), 3);
  ck_assert(l.items()[1].as_float() == 2.5);
  ck_assert(dict.find(int64_t{3})->as_bool());
  ck_assert_ptr_eq(dict.find(int64_t{4})->node(), l.node());
  ck_assert_int_eq(dict.find(int64_t{5})->as_int(), -12345678901);
  const auto& set = dict.find(int64_t{6})->as_object();
  ck_assert(set.qualified_name() == "builtins.set");
  ck_assert_uint_eq(set.list_items.size(), 2);

  // BINUNICODE8, BINBYTES8, FRAME, MEMOIZE, STACK_GLOBAL, NEWOBJ_EX, POP, POP_MARK, DUP.
  const std::string p4 = std::string("\x80\x04\x95\x08\x00\x00\x00\x00\x00\x00\x00", 11) +
                         std::string("\x8d\x02\x00\x00\x00\x00\x00\x00\x00hi\x94", 12) +
                         std::string("\x8e\x01\x00\x00\x00\x00\x00\x00\x00\xff", 10) +
                         "\x8c\x08" "argparse\x94\x8c\x09" "Namespace\x94\x93)}\x92" + "(K\x01K\x02" "1" + "K\x07" "0" +
                         "\x87" "2" "\x86.";
  const Value pair = unpickle_str(p4);
  ck_assert_ptr_eq(pair.items()[0].node(), pair.items()[1].node());  // DUP shares
  const Value t = pair.items()[0];
  ck_assert_uint_eq(t.items().size(), 3);
  ck_assert_str_eq(t.items()[0].as_string().c_str(), "hi");
  ck_assert(t.items()[1].as_bytes() == std::string("\xff", 1));
  ck_assert(t.items()[2].as_object().qualified_name() == "argparse.Namespace");

  // argparse.Namespace, the one inert record on the allow-list, takes BUILD.
  const Value o = unpickle_str("\x80\x02" "cargparse\nNamespace\n)\x81}X\x01\x00\x00\x00" "aK\x01sb."s);
  ck_assert(o.type_name() == "argparse.Namespace object");
  ck_assert_int_eq(o.as_object().state.as_dict().find(std::string("a"))->as_int(), 1);
  // collections.Counter (MultiStepLR's milestones) is a dict.
  const Value counter = unpickle_str("\x80\x02" "ccollections\nCounter\n}(K\x1eK\x01K(K\x01u\x85R."s);
  ck_assert_uint_eq(counter.as_dict().size(), 2);
  ck_assert_int_eq(counter.as_dict().find(int64_t{40})->as_int(), 1);
  // Python 2's OrderedDict reduce: a list of [key, value] lists.
  const Value od =
      unpickle_str("\x80\x02" "ccollections\nOrderedDict\n]((U\x01" "aK\x01lq\x00(U\x01" "bK\x02le\x85R."s);
  ck_assert_uint_eq(od.as_dict().size(), 2);
  ck_assert_int_eq(od.as_dict().find(std::string("b"))->as_int(), 2);
  // Protocol 2 bytes under Python 3: _codecs.encode(latin-1 text).
  const Value b = unpickle_str("\x80\x02" "c_codecs\nencode\nX\x03\x00\x00\x00\xc3\xbf" "aX\x06\x00\x00\x00latin1\x86R."s);
  ck_assert(b.as_bytes() == std::string("\xff" "a", 2));
}
END_TEST

START_TEST(test_hostile_pickles) {
  struct Case {
    std::string bytes;
    const char* needle;
  };
  const std::vector<Case> cases = {
      {"", "needs 1 bytes"},
      {"\x80\x02.", "stack underflow"},
      {"\x80\x02h\x05.", "memo entry 5 was never stored"},
      {std::string("\x80\x02X\xff\xff\xff\x7f", 7), "remain"},
      {"\x80\x06.", "newer than 5"},
      {"\x80\x02\xff", "unknown opcode"},
      {std::string("\x80\x02X\x02\x00\x00\x00\xc3\x28.", 10), "UTF-8"},
      {"\x80\x02K\x01K\x02.", "STOP with 1 values"},
      {"\x80\x02(K\x01.", "marks left over"},
      {"\x80\x02K\x01(.", "stack underflow"},
      {std::string("\x80\x02]q\x00h\x00" "a.", 9), "reference cycle"},
      {"\x80\x02K\x01K\x02" "b.", "BUILD on a int"},
      {"\x80\x02}(K\x01u.", "odd number"},
      {"\x80\x02)K\x01" "a.", "APPEND to a tuple"},
      {"\x80\x02}]K\x01s.", "unhashable"},
      {"\x80\x02K\x01)R.", "REDUCE on a int"},
      {"\x80\x02" "cbuiltins\nset\nK\x01R.", "not a tuple"},
      {"\x80\x02" "cfoo\nbar\nK\x01R.", "global 'foo.bar' is not on the allow-list"},
      {"\x80\x02Q.", "stack underflow"},
      {"\x80\x02K\x01Q.", "resolves none"},
      {"\x80\x02\x82\x01.", "EXT1"},
      {"\x80\x02" "cfoo", "unterminated"},
      {"\x80\x02\x8b\xff\xff\xff\xff.", "negative LONG4"},
      {"\x80\x02T\xff\xff\xff\xff", "negative BINSTRING"},
      {"\x80\x02" "1.", "no MARK"},
      {"\x80\x02" "Sabc\n.", "quoted strings"},
      {"\x80\x02" "c_codecs\nencode\nX\x02\x00\x00\x00hiX\x05\x00\x00\x00rot13\x86R."s, "unsupported encoding"},
  };
  for (const Case& c : cases) {
    const std::string msg = error_of([&] { unpickle_str(c.bytes); });
    ck_assert_msg(msg.find(c.needle) != std::string::npos, "'%s' lacks '%s'", msg.c_str(), c.needle);
    ck_assert_msg(msg.rfind("test: pickle byte ", 0) == 0, "no location in '%s'", msg.c_str());
  }

  // Deep nesting is refused (and torn down) without recursion.
  const size_t n = 300000;
  std::string lists = "\x80\x02" + std::string(n, ']') + std::string(n - 1, 'a') + ".";
  ASSERT_ERROR_HAS(unpickle_str(lists), "nested more than");
  std::string tuples = "\x80\x02K\x01" + std::string(n, '\x85') + ".";
  ASSERT_ERROR_HAS(unpickle_str(tuples), "nested more than");
  // Deep or cyclic values that were dropped before STOP are freed the same way
  // (LeakSanitizer would report the cycle otherwise).
  ck_assert(unpickle_str("\x80\x02K\x01" + std::string(n, '\x85') + "0N.").is_none());
  ck_assert(unpickle_str(std::string("\x80\x02]q\x00h\x00" "a0N.", 11)).is_none());
  // Many shared references make a wide DAG, which is fine and checked in linear time.
  std::string dag = "\x80\x02K\x01";
  for (int i = 0; i < 60; ++i) dag += "q\x00h\x00\x86"s;
  dag += ".";
  ck_assert_uint_eq(unpickle_str(dag).items().size(), 2);
}
END_TEST

// Every global outside the allow-list is refused, however it is named (GLOBAL,
// STACK_GLOBAL, INST, Python 2 names) and however it would be used (called,
// built, kept as a value or a key), with an error naming it.
START_TEST(test_pickle_allow_list) {
  struct Case {
    std::string bytes;
    const char* needle;
  };
  const std::vector<Case> cases = {
      // The classic exploit: os.system('touch pwned') through REDUCE.
      {"\x80\x02" "cos\nsystem\nX\x0b\x00\x00\x00touch pwned\x85R."s, "global 'os.system' is not on the allow-list"},
      {"\x80\x02" "cposix\nsystem\nX\x02\x00\x00\x00ls\x85R."s, "'posix.system'"},
      {"\x80\x02" "c__builtin__\neval\nX\x01\x00\x00\x00" "1\x85R."s, "'builtins.eval'"},
      {"\x80\x02" "cbuiltins\ngetattr\n(K\x01X\x04\x00\x00\x00realtR."s, "'builtins.getattr'"},
      // STACK_GLOBAL and NEWOBJ.
      {"\x80\x04\x8c\x0asubprocess\x8c\x05Popen\x93)\x81."s, "'subprocess.Popen'"},
      // Protocol 0 INST and protocol 1 OBJ.
      {"(X\x02\x00\x00\x00lsios\nsystem\n."s, "'os.system'"},
      {"(cos\nsystem\nX\x02\x00\x00\x00lso."s, "'os.system'"},
      // Not called, but kept in the value (as a value, a key, an attribute).
      {"\x80\x02" "cos\nsystem\n."s, "bare reference: global 'os.system' is not on the allow-list"},
      {"\x80\x02}ctorch\nfloat32\nK\x01s."s, "bare reference: global 'torch.float32'"},
      {"\x80\x02" "cargparse\nNamespace\n)\x81}X\x01\x00\x00\x00" "fcos\nsystem\nsb."s, "'os.system'"},
      // Calling an instance of an allowed class is a call of no global.
      {"\x80\x02" "cargparse\nNamespace\n)\x81)R."s, "REDUCE on a argparse.Namespace object"},
      // Only the modelled arguments: Namespace takes its attributes through BUILD.
      {"\x80\x02" "cargparse\nNamespace\nK\x01\x85R."s, "argparse.Namespace with 1 arguments"},
      // copyreg._reconstructor (how protocols 0 and 1 rebuild objects) is not needed.
      {"\x80\x02" "ccopy_reg\n_reconstructor\n)R."s, "'copyreg._reconstructor'"},
  };
  for (const Case& c : cases) {
    const std::string msg = error_of([&] { unpickle_str(c.bytes); });
    ck_assert_msg(msg.find(c.needle) != std::string::npos, "'%s' lacks '%s'", msg.c_str(), c.needle);
  }
  ck_assert(!fs::exists("pwned"));

  // The torch hooks add the torch functions and nothing else.
  const auto torch_error = [](const std::string& bytes) {
    tavce::io::torch_detail::TorchHooks hooks(tavce::io::torch_detail::TorchHooks::Layout::Zip, "t",
                                              [](tavce::io::StorageRef&) {});
    return error_of([&] { tavce::io::unpickle(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "t", &hooks); });
  };
  std::string msg = torch_error("\x80\x02" "ctorch\nload\nX\x01\x00\x00\x00x\x85R."s);
  ck_assert_msg(msg.find("global 'torch.load' is not on the allow-list") != std::string::npos, "%s", msg.c_str());
  // A tensor subclass rebuilt through something other than torch._utils.
  msg = torch_error("\x80\x02" "ctorch._tensor\n_rebuild_from_type_v2\n(cos\nsystem\ncmy\nT\n)}tR."s);
  ck_assert_msg(msg.find("_rebuild_from_type_v2 through global 'os.system'") != std::string::npos, "%s", msg.c_str());
  // A legacy whole-module save names the module's class in a persistent id.
  tavce::io::torch_detail::TorchHooks legacy(tavce::io::torch_detail::TorchHooks::Layout::Legacy, "t");
  const std::string module_pid =
      "\x80\x02(X\x06\x00\x00\x00modulecmodel\nNet\nX\x04\x00\x00\x00" "a.pyX\x00\x00\x00\x00tQ."s;
  msg = error_of([&] {
    tavce::io::unpickle(reinterpret_cast<const uint8_t*>(module_pid.data()), module_pid.size(), "t", &legacy);
  });
  ck_assert_msg(msg.find("whole module") != std::string::npos && msg.find("'model.Net'") != std::string::npos, "%s",
                msg.c_str());
}
END_TEST

// The value, memo and work budgets (UnpickleLimits), small here so the bombs
// stay small; the defaults bound the same counters.
START_TEST(test_pickle_limits) {
  const auto unpickle_with = [](const std::string& bytes, const tavce::io::UnpickleLimits& limits) {
    return tavce::io::unpickle(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "test", nullptr, limits)
        .value;
  };
  tavce::io::UnpickleLimits small;
  small.max_values = 1000;
  small.max_memo_entries = 100;
  small.max_work = 10000;
  // Values: a thousand Nones, even if each is dropped again.
  std::string nones = "\x80\x02";
  for (int i = 0; i < 999; ++i) nones += "N0";
  ck_assert(unpickle_with(nones + "N.", small).is_none());  // exactly 1000
  ASSERT_ERROR_HAS(unpickle_with(nones + "NN0.", small), "more than 1000 values");
  // DUP and memo GET count too.
  ASSERT_ERROR_HAS(unpickle_with("\x80\x02N" + std::string(1000, '2') + ".", small), "more than 1000 values");
  // Memo: one value stored under 101 indices.
  std::string memo = "\x80\x02N";
  for (int i = 0; i < 101; ++i) memo += "r" + std::string(reinterpret_cast<const char*>(&i), 4);
  ASSERT_ERROR_HAS(unpickle_with(memo + ".", small), "more than 100 memo entries");
  memo = "\x80\x02N";
  for (int i = 0; i < 300; ++i) memo += "q\x07";  // one index, reused
  ck_assert(unpickle_with(memo + ".", small).is_none());
  // Work: a 200-item dict BUILT onto a Namespace again and again.
  std::string bomb = "\x80\x02" "cargparse\nNamespace\n)\x81}q\x00("s;
  for (int i = 0; i < 200; ++i) bomb += "M" + std::string(reinterpret_cast<const char*>(&i), 2) + "N";
  bomb += "u0";
  for (int i = 0; i < 100; ++i) bomb += "h\x00" "b"s;
  ASSERT_ERROR_HAS(unpickle_with(bomb + ".", small), "units of copying work");
  // ... and through dict(): OrderedDict(d) of a large d, many times.
  bomb = "\x80\x02]q\x01}q\x00("s;
  for (int i = 0; i < 200; ++i) bomb += "M" + std::string(reinterpret_cast<const char*>(&i), 2) + "N";
  bomb += "u0";
  for (int i = 0; i < 100; ++i) bomb += "h\x01" "ccollections\nOrderedDict\nh\x00\x85R" "a"s;
  ASSERT_ERROR_HAS(unpickle_with(bomb + ".", small), "units of copying work");

  // The default budget stops the same BUILD bomb at full size quickly: a
  // 50,000-item dict built a million times would be 10^11 copies.
  bomb = "\x80\x02" "cargparse\nNamespace\n)\x81}q\x00("s;
  for (int i = 0; i < 50000; ++i) bomb += "J" + std::string(reinterpret_cast<const char*>(&i), 4) + "N";
  bomb += "u0";
  for (int i = 0; i < 1000000; ++i) bomb += "h\x00" "b"s;
  const auto start = std::chrono::steady_clock::now();
  ASSERT_ERROR_HAS(unpickle_str(bomb + "."), "units of copying work");
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("default-budget BUILD bomb refused after %.2f s\n", seconds);
}
END_TEST

// The legacy layout, by hand: magic, protocol version, sys_info, the object
// pickle, the storage keys, then per storage its int64 count and elements.
std::vector<uint8_t> legacy_file(const std::string& object_pickle, const std::string& key, int64_t count,
                                 const std::string& elements) {
  std::string f = "\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19."s;
  f += "\x80\x02M\xe9\x03."s;
  f += "\x80\x02}X\x0d\x00\x00\x00little_endian\x88s."s;
  f += object_pickle;
  f += "\x80\x02]X" + std::string("\x01\x00\x00\x00", 4) + key + "a.";
  f += std::string(reinterpret_cast<const char*>(&count), 8) + elements;
  return std::vector<uint8_t>(f.begin(), f.end());
}

// _rebuild_tensor_v2 of a FloatStorage of `numel` elements (key "0") with the
// given size and stride, all int64 through LONG1.
std::string tensor_pickle(int64_t numel, int64_t size, int64_t stride) {
  const auto long1 = [](int64_t v) { return "\x8a\x08"s + std::string(reinterpret_cast<const char*>(&v), 8); };
  return "\x80\x02" "ctorch._utils\n_rebuild_tensor_v2\n("
         "(X\x07\x00\x00\x00storagectorch\nFloatStorage\nX\x01\x00\x00\x00" "0X\x03\x00\x00\x00" "cpu"s +
         long1(numel) + "NtQK\x00"s + long1(size) + "\x85" + long1(stride) + "\x85" +
         "\x89" "ccollections\nOrderedDict\n)RtR.";
}

// A file claiming a 10^12-element tensor is refused before anything that
// size is allocated, whether the storage or only the view claims it.
START_TEST(test_huge_tensor_claims) {
  const int64_t trillion = 1000000000000;
  const std::string four(4, '\0');
  // The well-formed small case loads, so the refusals below are about size.
  const TorchCheckpoint ok = parse_bytes(legacy_file(tensor_pickle(1, 1, 1), "0", 1, four), "ok");
  ck_assert(ok.root().as_tensor().numel() == 1);
  const auto start = std::chrono::steady_clock::now();
  // The storage claims 4 TB; the file has 4 bytes.
  ASSERT_ERROR_HAS(parse_bytes(legacy_file(tensor_pickle(trillion, trillion, 1), "0", trillion, four), "big"),
                   "needs 4000000000000 bytes");
  // The storage is honest, the view reaches past it.
  ASSERT_ERROR_HAS(parse_bytes(legacy_file(tensor_pickle(1, trillion, 1), "0", 1, four), "big"),
                   "reaches element 999999999999");
  // A stride-0 view repeats one element 10^12 times: in bounds, but reading
  // it would allocate 4 TB.
  ASSERT_ERROR_HAS(parse_bytes(legacy_file(tensor_pickle(1, trillion, 0), "0", 1, four), "big"),
                   "has 1000000000000 elements, more than its 1-element storage holds");
  // Element counts that overflow int64 (2^62 elements of 4 bytes).
  ASSERT_ERROR_HAS(parse_bytes(legacy_file(tensor_pickle(int64_t{1} << 62, 1, 1), "0", 1, four), "big"),
                   "overflows");
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ck_assert_msg(seconds < 5, "refusing took %.1f s", seconds);
  // A modest stride-0 view (a broadcast bias) still loads.
  const TorchCheckpoint expanded = parse_bytes(legacy_file(tensor_pickle(1, 1000, 0), "0", 1, four), "ok");
  ck_assert(expanded.root().as_tensor().numel() == 1000);
}
END_TEST

START_TEST(test_tensor_ref_checks) {
  std::vector<uint8_t> storage(24);
  TensorRef t;
  t.dtype = DType::F32;
  t.storage = storage.data();
  t.storage_nbytes = storage.size();  // 6 floats
  t.shape = {2, 3};
  t.strides = {3, 1};
  tavce::io::check_tensor_ref(t, "ok");
  ck_assert(t.is_contiguous());
  t.strides = {1, 2};  // transposed view of 6 elements: reaches index 5
  tavce::io::check_tensor_ref(t, "ok");
  ck_assert(!t.is_contiguous());
  t.storage_offset = 1;
  ASSERT_ERROR_HAS(tavce::io::check_tensor_ref(t, "who"), "who: view (shape [2, 3], strides [1, 2], offset 1) reaches element 6");
  t.storage_offset = -1;
  ASSERT_ERROR_HAS(tavce::io::check_tensor_ref(t, "who"), "negative storage offset");
  t.storage_offset = 0;
  t.shape = {3, 3};
  t.strides = {INT64_MAX, INT64_MAX};
  ASSERT_ERROR_HAS(tavce::io::check_tensor_ref(t, "who"), "overflow");
  t.strides = {1};
  ASSERT_ERROR_HAS(tavce::io::check_tensor_ref(t, "who"), "differ in length");
  t.shape = {-1};
  ASSERT_ERROR_HAS(tavce::io::check_tensor_ref(t, "who"), "negative size");
  t.shape = {0, 5};
  t.strides = {5, 1};
  t.storage_offset = 1000;  // an empty view touches nothing
  tavce::io::check_tensor_ref(t, "ok");
  t.storage_nbytes = 23;
  ASSERT_ERROR_HAS(tavce::io::check_tensor_ref(t, "who"), "not a whole number");
}
END_TEST

// ---- tests: corruption --------------------------------------------------------

const char* const kCorruptionFiles[] = {"mapping_zip.pth.tar", "mapping_legacy.pth.tar", "mapping_zip64.pth.tar",
                                        "mapping_proto4.pth", "old_style_legacy.model"};

// Loads what a caller would, reading every element of every tensor.
void use_everything(const TorchCheckpoint& ck) {
  (void)ck.root().repr(500);
  for (const char* path : {"", "mapping", "dtypes", "nested.inner", "optimizer.state.0"}) {
    try {
      for (const auto& kv : ck.state_dict(path)) (void)elements(kv.second);
    } catch (const tavce::Error&) {
    }
  }
}

// Every strict prefix of a checkpoint is rejected: both layouts end with
// data the reader needs (the zip directory; the last storage).
START_TEST(test_every_truncation_throws) {
  for (const char* name : kCorruptionFiles) {
    const std::vector<uint8_t> bytes = read_bytes(fixture(name));
    for (size_t len = 0; len < bytes.size(); ++len) {
      const std::vector<uint8_t> cut(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(len));
      (void)error_of([&] { parse_bytes(cut, name); });
    }
  }
}
END_TEST

// Random byte changes either load (a change the format cannot detect, such as
// a tensor value in a legacy file) or throw tavce::Error; nothing crashes,
// reads out of bounds (ASan) or throws anything else.
START_TEST(test_random_corruption_never_crashes) {
  std::mt19937 rng(229);
  for (const char* name : kCorruptionFiles) {
    const std::vector<uint8_t> bytes = read_bytes(fixture(name));
    std::uniform_int_distribution<size_t> where(0, bytes.size() - 1);
    std::uniform_int_distribution<int> value(1, 255), count(1, 3);
    int loaded = 0, rejected = 0;
    for (int trial = 0; trial < 3000; ++trial) {
      std::vector<uint8_t> bad = bytes;
      for (int k = count(rng); k > 0; --k) bad[where(rng)] ^= static_cast<uint8_t>(value(rng));
      try {
        const TorchCheckpoint ck = parse_bytes(std::move(bad), name);
        use_everything(ck);
        ++loaded;
      } catch (const tavce::Error&) {
        ++rejected;
      } catch (const std::exception& e) {
        ck_abort_msg("%s trial %d: non-tavce exception %s", name, trial, e.what());
      }
    }
    std::printf("%s: %d corrupted copies rejected, %d loaded\n", name, rejected, loaded);
  }
}
END_TEST

// ---- tests: LibTorch -------------------------------------------------------------

START_TEST(test_to_tensor_matches_torch) {
  for (const char* name : {"mapping_zip.pth.tar", "mapping_legacy.pth.tar", "old_style_legacy.model"}) {
    const json& entries = expected()[name]["entries"];
    const TorchCheckpoint ck = TorchCheckpoint::open(fixture(name).string());
    std::map<std::string, TensorRef> all;
    if (std::string(name) == "old_style_legacy.model") {
      all = ck.state_dict("");
    } else {
      for (const char* path : {"mapping", "dtypes"})
        for (auto& [k, t] : ck.state_dict(path)) all.emplace(std::string(path) + "." + k, t);
    }
    for (const auto& [key, ref] : all) {
      const at::Tensor t = tavce::io::to_tensor(ref);
      const json& want = entries[key];
      ck_assert_msg(t.is_contiguous(), "%s", key.c_str());
      ck_assert_msg(std::vector<int64_t>(t.sizes().begin(), t.sizes().end()) == want["shape"].get<std::vector<int64_t>>(),
                    "%s: shape", key.c_str());
      const at::Tensor d = t.to(at::kDouble).reshape({-1});
      const auto values = want["values"];
      ck_assert_uint_eq(static_cast<size_t>(d.numel()), values.size());
      for (size_t i = 0; i < values.size(); ++i) {
        const double expect = values[i].is_boolean() ? values[i].get<bool>() : values[i].get<double>();
        ck_assert_msg(d[static_cast<int64_t>(i)].item<double>() == expect, "%s[%zu]", key.c_str(), i);
      }
    }
  }
}
END_TEST

START_TEST(test_load_torch_state_dict) {
  const auto path = [](const char* n) { return fixture(n).string(); };
  const auto zip = tavce::io::load_torch_state_dict(path("bn_root.pth"), "");
  const auto legacy = tavce::io::load_torch_state_dict(path("bn_root_legacy.pth"), "");
  const auto prefixed = tavce::io::load_torch_state_dict(path("module_prefixed.pth"), "state_dict", false);
  const auto stripped = tavce::io::load_torch_state_dict(path("module_prefixed.pth"), "state_dict", true);
  ck_assert_uint_eq(zip.size(), 7);
  ck_assert_uint_eq(prefixed.count("module.0.weight"), 1);
  ck_assert(zip.at("1.num_batches_tracked").scalar_type() == at::kLong);
  ck_assert_int_eq(zip.at("1.num_batches_tracked").item<int64_t>(), 1);
  for (const auto& [key, t] : zip) {
    ck_assert_msg(at::equal(t, legacy.at(key)), "legacy %s", key.c_str());
    ck_assert_msg(at::equal(t, stripped.at(key)), "stripped %s", key.c_str());
  }
  ASSERT_ERROR_HAS(tavce::io::load_torch_state_dict(path("module_prefixed.pth"), "collide", true), "equal");
  ASSERT_ERROR_HAS(tavce::io::load_torch_state_dict(path("mapping_zip.pth.tar"), "mappin"),
                   "top-level keys: mapping, dtypes, nested, epoch, optimizer, args");

  // Hand-made views are checked too.
  std::vector<uint8_t> storage = {0, 1, 2};
  TensorRef t;
  t.dtype = DType::BOOL;
  t.shape = {3};
  t.strides = {1};
  t.storage = storage.data();
  t.storage_nbytes = storage.size();
  ASSERT_ERROR_HAS(tavce::io::to_tensor(t), "BOOL but holds a byte other than 0 or 1");
  t.shape = {4};
  ASSERT_ERROR_HAS(tavce::io::to_tensor(t), "reaches element 3");
}
END_TEST

Suite* checkpoint_suite() {
  Suite* s = suite_create("torch_checkpoint");
  TCase* load = tcase_create("load");
  tcase_set_timeout(load, 120);
  tcase_add_test(load, test_crc32);
  tcase_add_test(load, test_fixtures_match_torch);
  tcase_add_test(load, test_parse_from_memory);
  tcase_add_test(load, test_plain_pickles);
  tcase_add_test(load, test_state_dict_paths);
  tcase_add_test(load, test_file_errors);
  tcase_add_test(load, test_crc_detects_corrupt_weights);
  suite_add_tcase(s, load);

  TCase* pickle = tcase_create("pickle");
  tcase_set_timeout(pickle, 120);
  tcase_add_test(pickle, test_text_and_rare_opcodes);
  tcase_add_test(pickle, test_hostile_pickles);
  tcase_add_test(pickle, test_tensor_ref_checks);
  tcase_add_test(pickle, test_pickle_allow_list);
  tcase_add_test(pickle, test_pickle_limits);
  tcase_add_test(pickle, test_huge_tensor_claims);
  suite_add_tcase(s, pickle);

  TCase* bad = tcase_create("corruption");
  tcase_set_timeout(bad, 600);
  tcase_add_test(bad, test_every_truncation_throws);
  tcase_add_test(bad, test_random_corruption_never_crashes);
  suite_add_tcase(s, bad);

  TCase* torch = tcase_create("libtorch");
  tcase_set_timeout(torch, 120);
  tcase_add_test(torch, test_to_tensor_matches_torch);
  tcase_add_test(torch, test_load_torch_state_dict);
  suite_add_tcase(s, torch);
  return s;
}

}  // namespace

int main() {
  SRunner* runner = srunner_create(checkpoint_suite());
  srunner_run_all(runner, CK_NORMAL);
  const int failed = srunner_ntests_failed(runner);
  srunner_free(runner);
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
