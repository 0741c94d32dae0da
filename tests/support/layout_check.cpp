#include "layout_check.h"

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace fs = std::filesystem;

namespace tavce::testing {

std::string golden_dir() {
  if (const char* env = std::getenv("TAVCE_GOLDEN_DIR"); env != nullptr && *env != '\0') return env;
  // This file is tests/support/layout_check.cpp: three levels up is the source root.
  return (fs::path(__FILE__).parent_path().parent_path().parent_path() / ".." / "shared" / "golden").string();
}

bool load_json(const std::string& path, nlohmann::json* out) {
  std::ifstream in(path);
  if (!in.good()) return false;
  *out = nlohmann::json::parse(in);
  return true;
}

namespace {

std::string mapped(const std::string& d, DtypeMap dtype_map) { return dtype_map != nullptr ? dtype_map(d) : d; }

}  // namespace

Layout layout_from_keys(const nlohmann::json& keys, const std::string& prefix, DtypeMap dtype_map) {
  Layout out;
  for (const auto& [key, v] : keys.items()) {
    if (key.rfind(prefix, 0) != 0) continue;
    out[key.substr(prefix.size())] = {v.at("shape").get<std::vector<int64_t>>(),
                                      mapped(v.at("dtype").get<std::string>(), dtype_map),
                                      v.at("kind").get<std::string>()};
  }
  return out;
}

Layout layout_from_rows(const nlohmann::json& rows, const std::string& prefix, DtypeMap dtype_map) {
  Layout out;
  for (const auto& row : rows) {
    const std::string key = row.at(0);
    if (key.rfind(prefix, 0) != 0) continue;
    out[key.substr(prefix.size())] = {row.at(1).get<std::vector<int64_t>>(),
                                      mapped(row.at(2).get<std::string>(), dtype_map), row.at(3).get<std::string>()};
  }
  return out;
}

bool layout_from_keys_tsv(const std::string& path, const std::string& container, DtypeStyle style, Layout* out) {
  std::ifstream in(path);
  if (!in.good()) {
    std::fprintf(stderr, "cannot read %s\n", path.c_str());
    return false;
  }
  Layout layout;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::vector<std::string> cols;
    std::stringstream ss(line);
    for (std::string c; std::getline(ss, c, '\t');) cols.push_back(c);
    if (cols.size() != 4 || cols[0].find(container) == std::string::npos) continue;
    std::vector<int64_t> shape;
    if (cols[2] != "scalar") {
      std::stringstream dims(cols[2]);
      for (std::string d; std::getline(dims, d, 'x');) shape.push_back(std::stoll(d));
    }
    if (layout.count(cols[1]) != 0) {
      std::fprintf(stderr, "%s: key %s repeats in %s\n", path.c_str(), cols[1].c_str(), container.c_str());
      return false;
    }
    const bool counter = cols[1].find("num_batches_tracked") != std::string::npos;
    layout[cols[1]] = {shape, dtype_name(counter ? at::kLong : at::kFloat, style), cols[3]};
  }
  *out = std::move(layout);
  return true;
}

std::string dtype_name(at::ScalarType t, DtypeStyle style) {
  const bool torch = style == DtypeStyle::kTorch;
  switch (t) {
    case at::kFloat: return torch ? "float32" : "F32";
    case at::kLong: return torch ? "int64" : "I64";
    case at::kHalf: return torch ? "float16" : "F16";
    case at::kDouble: return torch ? "float64" : "F64";
    default: return "other";
  }
}

Layout module_layout(const torch::nn::Module& m, DtypeStyle style) {
  Layout out;
  for (const auto& p : m.named_parameters(true))
    out[p.key()] = {p.value().sizes().vec(), dtype_name(p.value().scalar_type(), style), "param"};
  for (const auto& b : m.named_buffers(true))
    out[b.key()] = {b.value().sizes().vec(), dtype_name(b.value().scalar_type(), style), "buffer"};
  return out;
}

std::string shape_str(const std::vector<int64_t>& s) {
  std::string r = "[";
  for (size_t i = 0; i < s.size(); ++i) r += (i ? "," : "") + std::to_string(s[i]);
  return r + "]";
}

int layout_differences(const Layout& expected, const Layout& actual, const char* what) {
  const std::string pre = (what != nullptr && *what != '\0') ? std::string(what) + ": " : std::string();
  int bad = 0;
  for (const auto& [key, e] : expected) {
    auto it = actual.find(key);
    if (it == actual.end()) {
      if (bad++ < 20) std::fprintf(stderr, "%smissing %s\n", pre.c_str(), key.c_str());
      continue;
    }
    if (it->second != e && bad++ < 20)
      std::fprintf(stderr, "%s%s is %s %s %s, expected %s %s %s\n", pre.c_str(), key.c_str(),
                   shape_str(std::get<0>(it->second)).c_str(), std::get<1>(it->second).c_str(),
                   std::get<2>(it->second).c_str(), shape_str(std::get<0>(e)).c_str(), std::get<1>(e).c_str(),
                   std::get<2>(e).c_str());
  }
  for (const auto& [key, a] : actual)
    if (!expected.count(key) && bad++ < 20) std::fprintf(stderr, "%sunexpected %s\n", pre.c_str(), key.c_str());
  return bad;
}

int64_t param_count(const torch::nn::Module& m) {
  int64_t n = 0;
  for (const auto& p : m.parameters()) n += p.numel();
  return n;
}

}  // namespace tavce::testing
