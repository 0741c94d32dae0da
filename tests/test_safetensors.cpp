// Check tests for the safetensors reader/writer (tavce/io/safetensors.h) and
// its LibTorch bridge (tavce/io/tensor_io.h).
//
// Independent truths used here: the caller's own bytes (round trips), byte
// layouts assembled by hand (bad headers), the golden files written by a
// separate Python writer together with values known in closed form (Hann
// window, SadTalker's window index table), and a float16 decoder written from
// the IEEE 754 definition rather than LibTorch's.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <limits>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tavce/error.h"
#include "tavce/io/safetensors.h"
#include "tavce/io/tensor_io.h"

// Last: check.h defines a macro named fail that breaks std::ios::fail().
#include <check.h>

namespace fs = std::filesystem;
using tavce::io::DType;
using tavce::io::SafeTensors;
using tavce::io::TensorToWrite;
using tavce::io::TensorView;

namespace {

// ---- helpers ---------------------------------------------------------------

struct TempDir {
  fs::path path;
  TempDir() {
    std::string templ = (fs::temp_directory_path() / "tavce-st-XXXXXX").string();
    ck_assert_msg(::mkdtemp(templ.data()) != nullptr, "mkdtemp failed");
    path = templ;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

std::vector<uint8_t> read_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  ck_assert_msg(in.good(), "cannot read %s", p.c_str());
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

void put_le64(std::vector<uint8_t>& out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}

// A container assembled by hand: claimed header length, header text, data.
std::vector<uint8_t> container(uint64_t claimed_len, const std::string& header,
                               const std::vector<uint8_t>& data) {
  std::vector<uint8_t> out;
  put_le64(out, claimed_len);
  out.insert(out.end(), header.begin(), header.end());
  out.insert(out.end(), data.begin(), data.end());
  return out;
}

std::vector<uint8_t> container(const std::string& header, size_t data_size) {
  return container(header.size(), header, std::vector<uint8_t>(data_size, 0));
}

// Runs f, which must throw tavce::Error, and returns its message. Any other
// outcome (no exception, another exception type) fails the test.
std::string error_of(const std::function<void()>& f, const std::string& ctx) {
  try {
    f();
  } catch (const tavce::Error& e) {
    return e.what();
  } catch (const std::exception& e) {
    ck_abort_msg("%s: expected tavce::Error, got another exception: %s", ctx.c_str(), e.what());
  } catch (...) {
    ck_abort_msg("%s: expected tavce::Error, got a non-std exception", ctx.c_str());
  }
  ck_abort_msg("%s: expected tavce::Error, nothing was thrown", ctx.c_str());
  return {};
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

int64_t product(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

// What every successfully parsed file must satisfy, however it was mangled.
void check_invariants(const SafeTensors& st, const std::string& ctx) {
  const std::vector<uint8_t>& buf = st.bytes();
  const uint8_t* lo = buf.data() + 8;
  const uint8_t* hi = buf.data() + buf.size();
  std::vector<std::pair<const uint8_t*, const uint8_t*>> ranges;
  const TensorView* prev = nullptr;
  for (const TensorView& v : st.tensors()) {
    ck_assert_msg(prev == nullptr || prev->name < v.name, "%s: names not sorted/unique", ctx.c_str());
    ck_assert_msg(v.data >= lo && v.data <= hi && v.nbytes <= static_cast<size_t>(hi - v.data),
                  "%s: tensor '%s' lies outside the buffer", ctx.c_str(), v.name.c_str());
    for (int64_t d : v.shape) ck_assert_msg(d >= 0, "%s: negative dim", ctx.c_str());
    ck_assert_msg(v.numel() == product(v.shape), "%s: numel", ctx.c_str());
    ck_assert_msg(v.nbytes == tavce::io::dtype_size(v.dtype) * static_cast<size_t>(v.numel()),
                  "%s: tensor '%s' nbytes != dtype_size * numel", ctx.c_str(), v.name.c_str());
    unsigned sum = 0;  // touch every byte so that a sanitizer sees bad ranges
    for (size_t i = 0; i < v.nbytes; ++i) {
      sum += v.data[i];
      if (v.dtype == DType::BOOL) ck_assert_msg(v.data[i] <= 1, "%s: bool byte", ctx.c_str());
    }
    (void)sum;
    if (v.nbytes > 0) ranges.emplace_back(v.data, v.data + v.nbytes);
    prev = &v;
  }
  std::sort(ranges.begin(), ranges.end());
  for (size_t i = 1; i < ranges.size(); ++i)
    ck_assert_msg(ranges[i - 1].second <= ranges[i].first, "%s: tensors overlap", ctx.c_str());
}

// Parses bytes: true when valid (invariants checked), false on tavce::Error.
bool parses(std::vector<uint8_t> bytes, const std::string& ctx) {
  try {
    SafeTensors st = SafeTensors::parse(std::move(bytes), "mutant");
    check_invariants(st, ctx);
    return true;
  } catch (const tavce::Error& e) {
    ck_assert_msg(std::strncmp(e.what(), "mutant: ", 8) == 0, "%s: message lacks the label: %s",
                  ctx.c_str(), e.what());
    return false;
  } catch (const std::exception& e) {
    ck_abort_msg("%s: non-tavce exception escaped: %s", ctx.c_str(), e.what());
  }
  return false;
}

// One tensor of a test file, with bytes owned here.
struct Spec {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes;
};

Spec make_spec(const std::string& name, DType dtype, std::vector<int64_t> shape, uint32_t seed) {
  Spec s{name, dtype, std::move(shape), {}};
  s.bytes.resize(tavce::io::dtype_size(dtype) * static_cast<size_t>(product(s.shape)));
  std::mt19937 rng(seed);
  for (auto& b : s.bytes) b = static_cast<uint8_t>(dtype == DType::BOOL ? rng() & 1 : rng());
  return s;
}

std::vector<TensorToWrite> to_write(const std::vector<Spec>& specs) {
  std::vector<TensorToWrite> out;
  for (const Spec& s : specs) out.push_back({s.name, s.dtype, s.shape, s.bytes.data(), s.bytes.size()});
  return out;
}

// The file the corruption tests mangle: several dtypes, a 0-d and an empty tensor.
std::vector<uint8_t> sample_file(const TempDir& dir) {
  const std::vector<Spec> specs = {
      make_spec("alpha", DType::F32, {2, 3}, 1), make_spec("beta", DType::I64, {4}, 2),
      make_spec("empty", DType::U8, {0}, 3),     make_spec("flag", DType::BOOL, {5}, 4),
      make_spec("gamma", DType::F16, {}, 5),
  };
  const fs::path p = dir.path / "sample.safetensors";
  tavce::io::write_safetensors(p.string(), to_write(specs), {{"k", "v"}});
  return read_bytes(p);
}

uint64_t header_len_of(const std::vector<uint8_t>& f) {
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | f[static_cast<size_t>(i)];
  return n;
}

std::string golden_dir() {
  if (const char* env = std::getenv("TAVCE_GOLDEN_DIR"); env != nullptr && *env != '\0') return env;
  // Running by hand: <source>/../shared/golden, the source root found from
  // this file's path (absolute, or relative to where the compiler ran).
  return (fs::path(__FILE__).parent_path().parent_path() / ".." / "shared" / "golden").string();
}

std::string golden_file(const std::string& rel) {
  const std::string p = golden_dir() + "/" + rel;
  ck_assert_msg(fs::exists(p), "golden file %s is missing (set TAVCE_GOLDEN_DIR)", p.c_str());
  return p;
}

template <class T>
std::vector<T> values_of(const TensorView& v) {
  ck_assert_uint_eq(v.nbytes % sizeof(T), 0);
  std::vector<T> out(v.nbytes / sizeof(T));
  if (v.nbytes > 0) std::memcpy(out.data(), v.data, v.nbytes);
  return out;
}

// IEEE 754 binary16 -> float, from the definition (not LibTorch's c10::Half).
float half_to_float(uint16_t h) {
  const int sign = h >> 15, exponent = (h >> 10) & 0x1f, mantissa = h & 0x3ff;
  double v;
  if (exponent == 0)
    v = std::ldexp(mantissa, -24);  // zero and subnormals
  else if (exponent == 0x1f)
    v = mantissa ? std::numeric_limits<double>::quiet_NaN() : std::numeric_limits<double>::infinity();
  else
    v = std::ldexp(mantissa + 1024, exponent - 25);
  return static_cast<float>(sign ? -v : v);
}

// bfloat16 is by definition the upper half of a float32.
float bf16_to_float(uint16_t h) {
  const uint32_t bits = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

bool same_float(float a, float b) { return (std::isnan(a) && std::isnan(b)) || a == b; }

// ---- round trips -----------------------------------------------------------

START_TEST(test_roundtrip_all_dtypes) {
  TempDir dir;
  const std::vector<Spec> specs = {
      make_spec("z_bool", DType::BOOL, {3, 2}, 10), make_spec("u8", DType::U8, {7}, 11),
      make_spec("i8", DType::I8, {1, 1, 5}, 12),    make_spec("i16", DType::I16, {4, 1}, 13),
      make_spec("i32", DType::I32, {2, 2, 2}, 14),  make_spec("i64", DType::I64, {3}, 15),
      make_spec("f16", DType::F16, {2, 3}, 16),     make_spec("bf16", DType::BF16, {5}, 17),
      make_spec("f32", DType::F32, {2, 3, 4}, 18),  make_spec("f64", DType::F64, {2}, 19),
      make_spec("scalar", DType::F32, {}, 20),      make_spec("empty", DType::I64, {0}, 21),
      make_spec("empty2", DType::F16, {3, 0, 2}, 22), make_spec("a.b.weight", DType::F32, {1}, 23),
  };
  const fs::path p = dir.path / "rt.safetensors";
  tavce::io::write_safetensors(p.string(), to_write(specs));

  // Views must outlive the SafeTensors they came from through a copy.
  std::optional<SafeTensors> first = SafeTensors::open(p.string());
  const SafeTensors st = *first;
  first.reset();

  ck_assert_str_eq(st.label().c_str(), p.c_str());
  ck_assert_uint_eq(st.tensors().size(), specs.size());
  ck_assert(st.metadata().empty());
  std::vector<std::string> names;
  for (const Spec& s : specs) names.push_back(s.name);
  std::sort(names.begin(), names.end());
  for (size_t i = 0; i < names.size(); ++i) ck_assert_str_eq(st.tensors()[i].name.c_str(), names[i].c_str());

  for (const Spec& s : specs) {
    ck_assert(st.contains(s.name));
    const TensorView& v = st.at(s.name);
    ck_assert_int_eq(static_cast<int>(v.dtype), static_cast<int>(s.dtype));
    ck_assert_msg(v.shape == s.shape, "shape of %s", s.name.c_str());
    ck_assert_int_eq(v.numel(), product(s.shape));
    ck_assert_uint_eq(v.nbytes, s.bytes.size());
    ck_assert_msg(v.nbytes == 0 || std::memcmp(v.data, s.bytes.data(), v.nbytes) == 0,
                  "bytes of %s differ", s.name.c_str());
  }
  ck_assert_int_eq(st.at("scalar").numel(), 1);
  ck_assert_int_eq(st.at("empty").numel(), 0);
  check_invariants(st, "roundtrip");

  ck_assert(!st.contains("missing"));
  ck_assert(!st.contains(""));
  const std::string err = error_of([&] { st.at("nope"); }, "at(nope)");
  ck_assert_msg(contains(err, p.string()) && contains(err, "'nope'"), "%s", err.c_str());

  // The layout, read by hand: length prefix, space-padded header, data in
  // name order and back to back, no __metadata__ when there is none.
  const std::vector<uint8_t> f = read_bytes(p);
  const uint64_t n = header_len_of(f);
  ck_assert_uint_eq(n % 8, 0);
  const std::string header(f.begin() + 8, f.begin() + 8 + static_cast<long>(n));
  const size_t close = header.find_last_of('}');
  ck_assert(close != std::string::npos && close + 8 > header.size());
  ck_assert(std::all_of(header.begin() + static_cast<long>(close) + 1, header.end(),
                        [](char c) { return c == ' '; }));
  ck_assert(!contains(header, "__metadata__"));
  std::vector<uint8_t> expected_data;
  std::vector<const Spec*> by_name;
  for (const Spec& s : specs) by_name.push_back(&s);
  std::sort(by_name.begin(), by_name.end(), [](auto* a, auto* b) { return a->name < b->name; });
  uint64_t offset = 0;
  const auto j = nlohmann::json::parse(header);
  for (const Spec* s : by_name) {
    expected_data.insert(expected_data.end(), s->bytes.begin(), s->bytes.end());
    ck_assert_uint_eq(j.at(s->name).at("data_offsets").at(0).get<uint64_t>(), offset);
    offset += s->bytes.size();
  }
  ck_assert(std::equal(f.begin() + 8 + static_cast<long>(n), f.end(), expected_data.begin(),
                       expected_data.end()));
}
END_TEST

START_TEST(test_metadata_roundtrip) {
  TempDir dir;
  const std::map<std::string, std::string> meta = {
      {"format", "pt"}, {"empty", ""}, {"quote\"and\\slash", "line\nbreak\ttab"},
      {"unicode", "Schr\xc3\xb6" "dinger \xe2\x9c\x93"}};
  const Spec s = make_spec("w", DType::F32, {2}, 30);
  const fs::path p = dir.path / "meta.safetensors";
  tavce::io::write_safetensors(p.string(), to_write({s}), meta);
  const SafeTensors st = SafeTensors::open(p.string());
  ck_assert_msg(st.metadata() == meta, "metadata differs");
  ck_assert_uint_eq(st.tensors().size(), 1);

  // A file with metadata only and no tensors is valid too.
  const fs::path q = dir.path / "only-meta.safetensors";
  tavce::io::write_safetensors(q.string(), {}, {{"a", "b"}});
  const SafeTensors only = SafeTensors::open(q.string());
  ck_assert(only.tensors().empty());
  ck_assert_str_eq(only.metadata().at("a").c_str(), "b");
}
END_TEST

START_TEST(test_writer_atomic_and_errors) {
  TempDir dir;
  const fs::path p = dir.path / "w.safetensors";
  const Spec a = make_spec("a", DType::F32, {3}, 40), b = make_spec("b", DType::I32, {5}, 41);
  tavce::io::write_safetensors(p.string(), to_write({a}));
  tavce::io::write_safetensors(p.string(), to_write({b}));  // replaces the file
  const SafeTensors st = SafeTensors::open(p.string());
  ck_assert(!st.contains("a") && st.contains("b"));
  auto listing = [&] {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(dir.path)) names.push_back(e.path().filename());
    std::sort(names.begin(), names.end());
    return names;
  };
  ck_assert_msg(listing() == std::vector<std::string>{"w.safetensors"}, "temporary file left");

  // I/O failures name the path and the system's reason.
  const std::string missing = (dir.path / "no-such-dir" / "x.safetensors").string();
  std::string err = error_of([&] { tavce::io::write_safetensors(missing, to_write({a})); }, "nodir");
  ck_assert_msg(contains(err, missing) && contains(err, std::strerror(ENOENT)), "%s", err.c_str());
  fs::create_directories(dir.path / "adir" / "sub");  // rename onto a non-empty folder fails
  const std::string onto_dir = (dir.path / "adir").string();
  err = error_of([&] { tavce::io::write_safetensors(onto_dir, to_write({a})); }, "onto dir");
  ck_assert_msg(contains(err, onto_dir), "%s", err.c_str());
  ck_assert_msg((listing() == std::vector<std::string>{"adir", "w.safetensors"}),
                "temporary file left after a failed rename");

  // Inputs the reader would reject are refused before anything is written.
  Spec short_bytes = make_spec("s", DType::F32, {4}, 42);
  short_bytes.bytes.resize(12);
  const Spec bad_bool{"flag", DType::BOOL, {2}, {0, 2}};
  const Spec meta_name = make_spec("__metadata__", DType::U8, {1}, 43);
  const Spec bad_utf8 = make_spec("bad\xff", DType::U8, {1}, 44);
  const Spec neg{"neg", DType::U8, {-1}, {}};
  const std::vector<std::pair<std::vector<Spec>, std::string>> bad = {
      {{short_bytes}, "needs 16"}, {{a, a}, "duplicate"}, {{bad_bool}, "BOOL"},
      {{meta_name}, "__metadata__"}, {{bad_utf8}, "encode"}, {{neg}, "shape"}};
  const std::string out = (dir.path / "bad.safetensors").string();
  for (const auto& case_ : bad) {
    // Not a structured binding: clang before 16 cannot capture one (the
    // sanitized parser tests build with clang-14).
    const std::vector<Spec>& specs = case_.first;
    const std::string& word = case_.second;
    err = error_of([&] { tavce::io::write_safetensors(out, to_write(specs)); }, word);
    ck_assert_msg(contains(err, word) && contains(err, out), "expected '%s' in: %s", word.c_str(),
                  err.c_str());
  }
  ck_assert_msg((listing() == std::vector<std::string>{"adir", "w.safetensors"}), "file left");
}
END_TEST

START_TEST(test_open_errors) {
  TempDir dir;
  const std::string missing = (dir.path / "nope.safetensors").string();
  std::string err = error_of([&] { SafeTensors::open(missing); }, "missing");
  ck_assert_msg(contains(err, missing) && contains(err, std::strerror(ENOENT)), "%s", err.c_str());
  err = error_of([&] { SafeTensors::open(dir.path.string()); }, "directory");
  ck_assert_msg(contains(err, "not a regular file"), "%s", err.c_str());
}
END_TEST

// ---- golden file written by the Python reference tooling --------------------

START_TEST(test_golden_mel_io) {
  const std::string path = golden_file("mel/io.safetensors");
  const SafeTensors st = SafeTensors::open(path);
  check_invariants(st, path);
  ck_assert_uint_eq(st.tensors().size(), 38);  // from a Python reading
  ck_assert(contains(st.metadata().at("producer"), "librosa 0.9.2"));

  const TensorView& basis = st.at("mel_basis");
  ck_assert(basis.dtype == DType::F32);
  ck_assert_msg((basis.shape == std::vector<int64_t>{80, 401}), "mel_basis shape");
  for (float x : values_of<float>(basis)) ck_assert(x >= 0.0f && std::isfinite(x));

  // Periodic Hann window of 800 samples, stored as float32.
  const TensorView& hann = st.at("hann_window");
  ck_assert_msg((hann.shape == std::vector<int64_t>{800}), "hann shape");
  const std::vector<float> w = values_of<float>(hann);
  for (int i = 0; i < 800; ++i)
    ck_assert_double_eq_tol(w[static_cast<size_t>(i)], 0.5 - 0.5 * std::cos(2 * M_PI * i / 800), 1e-7);
  ck_assert_float_eq(w[400], 1.0f);

  // SadTalker get_data: window r starts at int(80 * (r - 2) / 25) (truncated
  // toward zero, as C++ integer division does) and spans 16 mel frames,
  // clamped to [0, frames - 1]. The tensors sit at unaligned offsets.
  for (const std::string sig : {"a", "b", "c", "d", "e"}) {
    const TensorView& idx = st.at(sig + "_window_idx");
    const TensorView& mel = st.at(sig + "_getdata_mel");
    const TensorView& lens = st.at(sig + "_getdata_wav_len");
    ck_assert(idx.dtype == DType::I64 && lens.dtype == DType::I64);
    ck_assert_uint_eq(idx.shape.size(), 2);
    ck_assert_int_eq(idx.shape[1], 16);
    const int64_t rows = idx.shape[0], frames = mel.shape[0];
    ck_assert_int_eq(values_of<int64_t>(lens)[1], rows);  // (cut length, window count)
    const std::vector<int64_t> got = values_of<int64_t>(idx);
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t k = 0; k < 16; ++k) {
        const int64_t want = std::clamp<int64_t>(80 * (r - 2) / 25 + k, 0, frames - 1);
        ck_assert_int_eq(got[static_cast<size_t>(r * 16 + k)], want);
      }
  }
  const TensorView& a_idx = st.at("a_window_idx");
  ck_assert_msg((a_idx.shape == std::vector<int64_t>{200, 16}), "a_window_idx shape");
  const std::vector<int64_t> a_values = values_of<int64_t>(a_idx);
  const std::vector<int64_t> row0(a_values.begin(), a_values.begin() + 16);
  ck_assert_msg((row0 == std::vector<int64_t>{0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9}),
                "a_window_idx[0]");
}
END_TEST

// ---- corruption --------------------------------------------------------------

START_TEST(test_every_truncation_throws) {
  TempDir dir;
  const std::vector<uint8_t> f = sample_file(dir);
  ck_assert(parses(f, "intact"));
  for (size_t len = 0; len < f.size(); ++len)
    ck_assert_msg(!parses(std::vector<uint8_t>(f.begin(), f.begin() + static_cast<long>(len)),
                          "truncated to " + std::to_string(len)),
                  "truncation to %zu bytes parsed", len);
}
END_TEST

START_TEST(test_bit_flips_and_overwrites) {
  TempDir dir;
  const std::vector<uint8_t> f = sample_file(dir);
  const size_t header_end = 8 + header_len_of(f);
  int valid = 0, rejected = 0;
  // Every single-bit flip anywhere in the file.
  for (size_t i = 0; i < f.size(); ++i)
    for (int bit = 0; bit < 8; ++bit) {
      std::vector<uint8_t> m = f;
      m[i] ^= static_cast<uint8_t>(1u << bit);
      (parses(std::move(m), "flip byte " + std::to_string(i) + " bit " + std::to_string(bit)) ? valid
                                                                                                : rejected)++;
    }
  // Random overwrites of 1-3 bytes in the length field and the JSON, often
  // with characters that matter to JSON so that the parse gets far.
  const std::string interesting = "0123456789-+.eE\"{}[]:, \\u";
  std::mt19937 rng(1234);
  for (int trial = 0; trial < 20000; ++trial) {
    std::vector<uint8_t> m = f;
    const int count = 1 + static_cast<int>(rng() % 3);
    for (int c = 0; c < count; ++c) {
      const size_t pos = rng() % header_end;
      m[pos] = (rng() & 1) ? static_cast<uint8_t>(interesting[rng() % interesting.size()])
                           : static_cast<uint8_t>(rng());
    }
    (parses(std::move(m), "overwrite trial " + std::to_string(trial)) ? valid : rejected)++;
  }
  // Both outcomes must occur, or the mutations are not testing anything.
  ck_assert_int_gt(valid, 0);
  ck_assert_int_gt(rejected, 0);
}
END_TEST

START_TEST(test_bad_headers) {
  struct Case {
    const char* what;
    std::vector<uint8_t> bytes;
    const char* word;
  };
  const std::string ok_a = R"("a":{"dtype":"U8","shape":[8],"data_offsets":[0,8]})";
  std::vector<uint8_t> bool_data = {1, 0, 2};
  const std::string bool_header = R"({"f":{"dtype":"BOOL","shape":[3],"data_offsets":[0,3]}})";
  const std::vector<Case> cases = {
      {"empty file", {}, "too short"},
      {"7 bytes", std::vector<uint8_t>(7, 0), "too short"},
      {"header length larger than the file", container(1000, "{}", {}), "header length"},
      {"header length one past the end", container(3, "{}", {}), "header length"},
      {"header length 2^64-1", container(UINT64_MAX, "{}", {}), "header length"},
      {"header length over the cap", container(200ull << 20, "{}", {}), "header length"},
      {"zero-length header", container(0, "", {}), "malformed"},
      {"malformed JSON", container(R"({"a":)", 0), "malformed"},
      {"trailing garbage", container("{} x", 0), "malformed"},
      {"NUL padding", container(std::string("{}\0\0", 4), 0), "malformed"},
      {"NUL then garbage", container(std::string("{}\0x", 4), 0), "malformed"},
      {"invalid UTF-8", container("{\"\xff\":1}", 0), "malformed"},
      {"array JSON", container("[1,2]", 0), "not an object"},
      {"string JSON", container(R"("abc")", 0), "not an object"},
      {"entry not an object", container(R"({"a":[1]})", 0), "not an object"},
      {"nested too deep", container(R"({"a":{"shape":[[1]]}})", 0), "nested"},
      {"duplicate tensor", container("{" + ok_a + "," + ok_a + "}", 8), "duplicate"},
      {"duplicate field", container(R"({"a":{"dtype":"U8","dtype":"U8","shape":[0],"data_offsets":[0,0]}})", 0), "duplicate"},
      {"duplicate metadata", container(R"({"__metadata__":{},"__metadata__":{}})", 0), "duplicate"},
      {"metadata non-string value", container(R"({"__metadata__":{"k":1}})", 0), "__metadata__"},
      {"metadata not an object", container(R"({"__metadata__":"x"})", 0), "__metadata__"},
      {"missing shape", container(R"({"a":{"dtype":"U8","data_offsets":[0,0]}})", 0), "missing"},
      {"missing dtype", container(R"({"a":{"shape":[0],"data_offsets":[0,0]}})", 0), "missing"},
      {"missing offsets", container(R"({"a":{"dtype":"U8","shape":[0]}})", 0), "missing"},
      {"unknown field", container(R"({"a":{"dtype":"U8","shape":[0],"data_offsets":[0,0],"x":1}})", 0), "unknown field"},
      {"unknown dtype", container(R"({"a":{"dtype":"F8","shape":[1],"data_offsets":[0,1]}})", 1), "dtype"},
      {"lowercase dtype", container(R"({"a":{"dtype":"f32","shape":[1],"data_offsets":[0,4]}})", 4), "dtype"},
      {"numeric dtype", container(R"({"a":{"dtype":4,"shape":[1],"data_offsets":[0,4]}})", 4), "dtype"},
      {"negative dim", container(R"({"a":{"dtype":"U8","shape":[-1],"data_offsets":[0,0]}})", 0), "negative"},
      {"fractional dim", container(R"({"a":{"dtype":"U8","shape":[2.5],"data_offsets":[0,2]}})", 2), "shape"},
      {"dim >= 2^63", container(R"({"a":{"dtype":"U8","shape":[9223372036854775808,0],"data_offsets":[0,0]}})", 0), "shape"},
      {"shape not an array", container(R"({"a":{"dtype":"U8","shape":3,"data_offsets":[0,3]}})", 3), "shape"},
      {"element count overflow", container(R"({"a":{"dtype":"U8","shape":[4294967296,4294967296,0],"data_offsets":[0,0]}})", 0), "overflow"},
      {"byte count overflow", container(R"({"a":{"dtype":"F64","shape":[4611686018427387904],"data_offsets":[0,0]}})", 0), "overflow"},
      {"offsets one number", container(R"({"a":{"dtype":"U8","shape":[0],"data_offsets":[0]}})", 0), "data_offsets"},
      {"offsets negative", container(R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[-1,0]}})", 1), "data_offsets"},
      {"offsets reversed", container(R"({"a":{"dtype":"U8","shape":[0],"data_offsets":[4,0]}})", 4), "reversed"},
      {"offsets past the end", container(R"({"a":{"dtype":"U8","shape":[16],"data_offsets":[0,16]}})", 8), "past the end"},
      {"wrong byte length", container(R"({"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,12]}})", 12), "do not match"},
      {"overlap", container("{" + ok_a + R"(,"b":{"dtype":"U8","shape":[8],"data_offsets":[4,12]}})", 12), "overlap"},
      {"empty tensor inside another", container("{" + ok_a + R"(,"b":{"dtype":"U8","shape":[0],"data_offsets":[4,4]}})", 8), "overlap"},
      {"gap", container(R"({"a":{"dtype":"U8","shape":[4],"data_offsets":[4,8]}})", 8), "gap"},
      {"trailing data", container("{" + ok_a + "}", 9), "trailing"},
      {"bool byte 2", container(bool_header.size(), bool_header, bool_data), "BOOL"},
  };
  for (const Case& c : cases) {
    const std::string err =
        error_of([&] { SafeTensors::parse(c.bytes, "bad.safetensors"); }, c.what);
    ck_assert_msg(contains(err, c.word), "%s: expected '%s' in: %s", c.what, c.word, err.c_str());
    ck_assert_msg(err.rfind("bad.safetensors: ", 0) == 0, "%s: no label in: %s", c.what, err.c_str());
  }

  // The full message for the example in the header's documentation.
  const std::string err = error_of(
      [] { SafeTensors::parse(container(R"({"a.b":{"dtype":"F32","shape":[2,2],"data_offsets":[0,12]}})", 12),
                              "weights.safetensors"); },
      "exact message");
  ck_assert_str_eq(err.c_str(),
                   "weights.safetensors: tensor 'a.b' data_offsets [0, 12] do not match F32 x [2, 2] = 16 bytes");

  // Valid corner cases, each assembled by hand.
  const std::vector<std::pair<const char*, std::vector<uint8_t>>> good = {
      {"empty object", container("{}", 0)},
      {"padded with spaces", container("{}      ", 0)},
      {"zero-size tensor at the end", container("{" + ok_a + R"(,"b":{"dtype":"U8","shape":[0],"data_offsets":[8,8]}})", 8)},
      {"unsorted JSON order", container(R"({"z":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}})", 2)},
  };
  for (const auto& [what, bytes] : good) {
    try {
      check_invariants(SafeTensors::parse(bytes, "good"), what);
    } catch (const std::exception& e) {
      ck_abort_msg("%s: %s", what, e.what());
    }
  }
  const SafeTensors unsorted = SafeTensors::parse(good[3].second, "good");
  ck_assert_str_eq(unsorted.tensors()[0].name.c_str(), "a");
  ck_assert_ptr_eq(unsorted.tensors()[0].data, unsorted.tensors()[1].data + 1);
}
END_TEST

// ---- LibTorch bridge ---------------------------------------------------------

template <class T>
Spec spec_of(const std::string& name, DType dtype, const std::vector<T>& values) {
  Spec s{name, dtype, {static_cast<int64_t>(values.size())}, {}};
  s.bytes.resize(values.size() * sizeof(T));
  std::memcpy(s.bytes.data(), values.data(), s.bytes.size());
  return s;
}

START_TEST(test_to_tensor_and_load) {
  TempDir dir;
  const std::vector<uint16_t> f16 = {0x3C00, 0xC000, 0x7BFF, 0x0001, 0x8000, 0x7C00, 0x3555};
  const std::vector<float> f16_want = {1.0f, -2.0f, 65504.0f, std::ldexp(1.0f, -24), -0.0f,
                                       std::numeric_limits<float>::infinity(), 0.333251953125f};
  const std::vector<uint16_t> bf16 = {0x3F80, 0xC049, 0x0001, 0xFF80};
  const std::vector<float> bf16_want = {1.0f, -3.140625f, std::ldexp(1.0f, -133),
                                        -std::numeric_limits<float>::infinity()};
  const std::vector<int64_t> i64 = {INT64_MIN, -1, 0, 1, INT64_MAX};
  const std::vector<double> f64 = {0.1, -2.5, 1e-3};
  const std::vector<Spec> specs = {
      spec_of<uint8_t>("a_u8", DType::U8, {1, 2, 255}),  // pushes what follows off alignment
      spec_of<uint16_t>("b_bf16", DType::BF16, bf16),
      spec_of<uint16_t>("c_f16", DType::F16, f16),
      spec_of<double>("d_f64", DType::F64, f64),
      spec_of<int64_t>("e_i64", DType::I64, i64),
      spec_of<int8_t>("f_i8", DType::I8, {-128, 127}),
      spec_of<int16_t>("g_i16", DType::I16, {-32768, 7}),
      spec_of<int32_t>("h_i32", DType::I32, {INT32_MIN, 5}),
      spec_of<uint8_t>("i_bool", DType::BOOL, {1, 0, 1}),
      spec_of<float>("j_f32", DType::F32, {1.5f, -0.25f}),
      make_spec("k_scalar", DType::F16, {}, 50),
      make_spec("l_empty", DType::F32, {4, 0}, 51),
  };
  const fs::path p = dir.path / "t.safetensors";
  tavce::io::write_safetensors(p.string(), to_write(specs));
  const SafeTensors st = SafeTensors::open(p.string());
  ck_assert_msg(reinterpret_cast<uintptr_t>(st.at("e_i64").data) % 8 != 0, "test needs unaligned data");

  const std::map<std::string, at::ScalarType> stored = {
      {"a_u8", at::kByte},   {"b_bf16", at::kBFloat16}, {"c_f16", at::kHalf}, {"d_f64", at::kDouble},
      {"e_i64", at::kLong},  {"f_i8", at::kChar},       {"g_i16", at::kShort}, {"h_i32", at::kInt},
      {"i_bool", at::kBool}, {"j_f32", at::kFloat},     {"k_scalar", at::kHalf}, {"l_empty", at::kFloat}};
  for (const TensorView& v : st.tensors()) {
    const at::Tensor t = tavce::io::to_tensor(v);
    ck_assert_msg(t.scalar_type() == stored.at(v.name), "dtype of %s", v.name.c_str());
    ck_assert_msg(t.sizes().vec() == v.shape, "shape of %s", v.name.c_str());
    ck_assert(t.is_contiguous() && t.device().is_cpu());
    ck_assert_msg(v.nbytes == 0 || std::memcmp(t.data_ptr(), v.data, v.nbytes) == 0, "bytes of %s",
                  v.name.c_str());
  }
  ck_assert_int_eq(tavce::io::to_tensor(st.at("k_scalar")).dim(), 0);
  ck_assert_int_eq(tavce::io::to_tensor(st.at("l_empty")).numel(), 0);

  // float_to_f32: every floating dtype becomes float32 with the right values.
  const auto loaded = tavce::io::load_tensors(st);
  ck_assert_uint_eq(loaded.size(), specs.size());
  auto floats = [&](const char* name) {
    const at::Tensor& t = loaded.at(name);
    ck_assert_msg(t.scalar_type() == at::kFloat, "%s not float32", name);
    return std::vector<float>(t.data_ptr<float>(), t.data_ptr<float>() + t.numel());
  };
  const std::vector<float> got16 = floats("c_f16");
  for (size_t i = 0; i < f16.size(); ++i) {
    ck_assert_msg(same_float(got16[i], f16_want[i]), "f16[%zu] = %g", i, got16[i]);
    ck_assert_msg(same_float(got16[i], half_to_float(f16[i])), "f16 decoder[%zu]", i);
  }
  ck_assert(std::signbit(got16[4]));
  const std::vector<float> gotbf = floats("b_bf16");
  for (size_t i = 0; i < bf16.size(); ++i)
    ck_assert_msg(same_float(gotbf[i], bf16_want[i]) && same_float(gotbf[i], bf16_to_float(bf16[i])),
                  "bf16[%zu] = %g", i, gotbf[i]);
  const std::vector<float> got64 = floats("d_f64");
  for (size_t i = 0; i < f64.size(); ++i) ck_assert(got64[i] == static_cast<float>(f64[i]));
  ck_assert(floats("j_f32") == (std::vector<float>{1.5f, -0.25f}));
  ck_assert_int_eq(loaded.at("k_scalar").dim(), 0);
  ck_assert(loaded.at("k_scalar").scalar_type() == at::kFloat);

  // Integers and bools are never converted.
  const at::Tensor& li = loaded.at("e_i64");
  ck_assert(li.scalar_type() == at::kLong);
  ck_assert(std::equal(i64.begin(), i64.end(), li.data_ptr<int64_t>()));
  ck_assert(loaded.at("a_u8").scalar_type() == at::kByte);
  ck_assert(loaded.at("i_bool").scalar_type() == at::kBool);
  ck_assert(loaded.at("h_i32").scalar_type() == at::kInt);

  // Without float_to_f32 the stored dtype stays.
  const auto raw = tavce::io::load_tensors(st, false);
  ck_assert(raw.at("c_f16").scalar_type() == at::kHalf);
  ck_assert(raw.at("d_f64").scalar_type() == at::kDouble);
  ck_assert(std::memcmp(raw.at("c_f16").data_ptr(), f16.data(), f16.size() * 2) == 0);

  // A hand-filled view that lies about its size is refused, not read past.
  TensorView lie = st.at("j_f32");
  lie.shape = {3};
  std::string err = error_of([&] { tavce::io::to_tensor(lie); }, "lying view");
  ck_assert_msg(contains(err, "j_f32"), "%s", err.c_str());
  TensorView neg = st.at("j_f32");
  neg.shape = {-2, -1};
  err = error_of([&] { tavce::io::to_tensor(neg); }, "negative view");
  ck_assert_msg(contains(err, "shape"), "%s", err.c_str());
}
END_TEST

// The golden fp16 weights upcast exactly as an IEEE 754 decoder says.
START_TEST(test_golden_weights_f16_upcast) {
  const std::string path = golden_file("audio2exp/weights.safetensors");
  const SafeTensors st = SafeTensors::open(path);
  check_invariants(st, path);
  const auto loaded = tavce::io::load_tensors(st);
  int n_f16 = 0, n_i64 = 0;
  for (const TensorView& v : st.tensors()) {
    const at::Tensor& t = loaded.at(v.name);
    ck_assert_msg(t.sizes().vec() == v.shape, "shape of %s", v.name.c_str());
    if (v.dtype == DType::F16) {
      ++n_f16;
      ck_assert(t.scalar_type() == at::kFloat);
      const std::vector<uint16_t> h = values_of<uint16_t>(v);
      const float* f = t.data_ptr<float>();
      for (size_t i = 0; i < h.size(); ++i)
        ck_assert_msg(same_float(f[i], half_to_float(h[i])), "%s[%zu]", v.name.c_str(), i);
    } else if (v.dtype == DType::I64) {
      ++n_i64;
      ck_assert(t.scalar_type() == at::kLong);
      ck_assert(std::memcmp(t.data_ptr(), v.data, v.nbytes) == 0);
    }
  }
  // Counts from an independent (Python) reading of the header.
  ck_assert_int_eq(n_f16, 80);
  ck_assert_int_eq(n_i64, 13);
}
END_TEST

Suite* safetensors_suite() {
  Suite* s = suite_create("safetensors");
  TCase* io = tcase_create("container");
  tcase_set_timeout(io, 120);
  tcase_add_test(io, test_roundtrip_all_dtypes);
  tcase_add_test(io, test_metadata_roundtrip);
  tcase_add_test(io, test_writer_atomic_and_errors);
  tcase_add_test(io, test_open_errors);
  tcase_add_test(io, test_golden_mel_io);
  suite_add_tcase(s, io);
  TCase* bad = tcase_create("corruption");
  tcase_set_timeout(bad, 300);
  tcase_add_test(bad, test_every_truncation_throws);
  tcase_add_test(bad, test_bit_flips_and_overwrites);
  tcase_add_test(bad, test_bad_headers);
  suite_add_tcase(s, bad);
  TCase* torch = tcase_create("libtorch");
  tcase_set_timeout(torch, 120);
  tcase_add_test(torch, test_to_tensor_and_load);
  tcase_add_test(torch, test_golden_weights_f16_upcast);
  suite_add_tcase(s, torch);
  return s;
}

}  // namespace

int main() {
  SRunner* runner = srunner_create(safetensors_suite());
  srunner_run_all(runner, CK_NORMAL);
  const int failed = srunner_ntests_failed(runner);
  srunner_free(runner);
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
