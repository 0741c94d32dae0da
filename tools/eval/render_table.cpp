#include "render_table.h"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tavce/error.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace tavce::tools {

namespace {

struct Metric {
  const char* header;
  const char* key;      // "a" or "a.b" in a clips.jsonl row
  int decimals;
  bool absolute = false;  // |value| (offsets)
};

const std::vector<Metric> kMetrics = {
    {"LMD (IOD) ↓", "lmd", 3},
    {"r(open, real) lag 0", "opening_vs_real.lag0", 2},
    {"r(open, real) best ±15", "opening_vs_real.best", 2},
    {"r(open, energy) lag 0", "opening_vs_energy.lag0", 2},
    {"r(open, energy) best ±15", "opening_vs_energy.best", 2},
    {"/p b m/ closed", "closure.rate", 2},
    {"LSE-D ↓", "lse_d", 2},
    {"LSE-C ↑", "lse_c", 2},
    {"abs offset", "offset", 1, true},
    {"PSNR outside mouth (dB)", "psnr", 1},
    {"SSIM outside mouth", "ssim", 3},
};
const std::vector<std::string> kMethodOrder = {"lite", "energy", "static", "real"};
const std::vector<std::string> kSetOrder = {"grid_s1", "grid", "hdtf", "vox", "multi"};

// NaN when the row lacks the key or holds null (a NaN written by the evaluator).
double lookup(const json& row, const std::string& key, bool absolute) {
  const json* j = &row;
  size_t start = 0;
  while (true) {
    const size_t dot = key.find('.', start);
    const std::string part = key.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (!j->is_object() || !j->contains(part)) return NAN;
    j = &(*j)[part];
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  if (!j->is_number()) return NAN;
  const double v = j->get<double>();
  return absolute ? std::fabs(v) : v;
}

struct Stats {
  int n = 0;
  double mean = NAN, sd = NAN;
};

Stats stats(const std::vector<double>& v) {
  Stats s;
  double sum = 0;
  for (double x : v)
    if (std::isfinite(x)) sum += x, ++s.n;
  if (s.n == 0) return s;
  s.mean = sum / s.n;
  double ss = 0;
  for (double x : v)
    if (std::isfinite(x)) ss += (x - s.mean) * (x - s.mean);
  s.sd = s.n > 1 ? std::sqrt(ss / (s.n - 1)) : 0.0;
  return s;
}

std::string cell(const Stats& s, int decimals) {
  if (s.n == 0) return "–";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f ± %.*f", decimals, s.mean, decimals, s.sd);
  return buf;
}

}  // namespace

int render_table(const Args& args) {
  if (args.positional.size() < 2) throw Error("usage: tavce-eval render-table DIR... [--title TEXT]");
  // rows[set][method] = the clips' rows
  std::map<std::string, std::map<std::string, std::vector<json>>> rows;
  for (size_t i = 1; i < args.positional.size(); ++i) {
    const fs::path file = fs::path(args.positional[i]) / "clips.jsonl";
    std::ifstream in(file);
    if (!in) throw Error("cannot read " + file.string() + " (a tavce-eval render --out folder?)");
    std::string line;
    int number = 0;
    while (std::getline(in, line)) {
      ++number;
      const json row = json::parse(line, nullptr, false);
      if (row.is_discarded() || !row.contains("clip") || !row.contains("method"))
        throw Error(file.string() + ":" + std::to_string(number) + ": not a tavce-eval render row");
      const std::string clip = row["clip"];
      const std::string set = clip.substr(0, clip.find('/'));
      rows[set][row["method"]].push_back(row);
      rows["all"][row["method"]].push_back(row);
    }
  }
  // Only clips every method scored (a clip whose first frame has no face is not rendered; a run cut short
  // stops at different clips), so each row's mean is over the same clips.
  std::map<std::string, std::set<std::string>> methods_of;
  std::set<std::string> methods;
  for (const auto& [method, r] : rows["all"])
    for (const auto& row : r) methods_of[row["clip"].get<std::string>()].insert(method), methods.insert(method);
  size_t dropped = 0;
  for (auto& [set, by_method] : rows)
    for (auto& [method, r] : by_method) {
      const size_t before = r.size();
      r.erase(std::remove_if(r.begin(), r.end(),
                             [&](const json& row) { return methods_of[row["clip"].get<std::string>()] != methods; }),
              r.end());
      if (set == "all") dropped += before - r.size();
    }
  std::vector<std::string> sets;
  for (const auto& s : kSetOrder)
    if (rows.count(s)) sets.push_back(s);
  for (const auto& [s, _] : rows)
    if (s != "all" && std::find(sets.begin(), sets.end(), s) == sets.end()) sets.push_back(s);
  sets.push_back("all");

  if (args.has("title")) std::printf("`%s`\n\n", args.get("title", "").c_str());
  std::printf("| set | method | clips |");
  for (const auto& m : kMetrics) std::printf(" %s |", m.header);
  std::printf("\n|---|---|---|");
  for (size_t i = 0; i < kMetrics.size(); ++i) std::printf("---|");
  std::printf("\n");
  std::vector<std::string> verdicts;
  for (const auto& set : sets) {
    std::map<std::string, std::map<std::string, Stats>> by_method;
    size_t set_rows = 0;
    for (const auto& [method, r] : rows[set]) set_rows += r.size();
    if (set_rows == 0) continue;
    for (const auto& method : kMethodOrder) {
      if (!rows[set].count(method) || rows[set][method].empty()) continue;
      const auto& r = rows[set][method];
      std::printf("| %s | %s | %zu |", set.c_str(), method.c_str(), r.size());
      for (const auto& m : kMetrics) {
        std::vector<double> v;
        for (const auto& row : r) v.push_back(lookup(row, m.key, m.absolute));
        by_method[method][m.key] = stats(v);
        std::printf(" %s |", cell(by_method[method][m.key], m.decimals).c_str());
      }
      std::printf("\n");
    }
    // Does lite beat both baselines? A correlation that is undefined (a mouth that never moves) counts as 0.
    if (!by_method.count("lite") || !by_method.count("static") || !by_method.count("energy")) continue;
    auto mean_or_zero = [](const Stats& s) { return s.n ? s.mean : 0.0; };
    const double lmd = by_method["lite"]["lmd"].mean;
    const bool lmd_wins = lmd < by_method["static"]["lmd"].mean && lmd < by_method["energy"]["lmd"].mean;
    const double r = mean_or_zero(by_method["lite"]["opening_vs_real.lag0"]);
    const bool r_wins = r > mean_or_zero(by_method["static"]["opening_vs_real.lag0"]) &&
                        r > mean_or_zero(by_method["energy"]["opening_vs_real.lag0"]);
    verdicts.push_back("- " + set + ": LMD " + (lmd_wins ? "lite beats both baselines" : "**lite does not beat both baselines**") +
                       "; r(open, real) at lag 0 " + (r_wins ? "lite beats both" : "**lite does not beat both**"));
  }
  std::printf("\n");
  if (dropped) std::printf("(%zu rows of clips that not every method scored are left out.)\n\n", dropped);
  for (const auto& v : verdicts) std::printf("%s\n", v.c_str());
  return 0;
}

}  // namespace tavce::tools
