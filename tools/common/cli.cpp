#include "common/cli.h"

#include <algorithm>
#include <cstdio>
#include <exception>
#include <iostream>
#include <sstream>
#include <stdexcept>

namespace tavce::tools {

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ','))
    if (!item.empty()) out.push_back(item);
  return out;
}

std::string Args::get(const std::string& name, const std::string& fallback) const {
  auto it = options.find(name);
  return it == options.end() ? fallback : it->second;
}

int Args::get_int(const std::string& name, int fallback) const {
  auto it = options.find(name);
  if (it == options.end()) return fallback;
  size_t used = 0;
  const int v = std::stoi(it->second, &used);
  if (used != it->second.size()) throw std::invalid_argument("--" + name + " expects an integer");
  return v;
}

double Args::get_double(const std::string& name, double fallback) const {
  auto it = options.find(name);
  if (it == options.end()) return fallback;
  size_t used = 0;
  const double v = std::stod(it->second, &used);
  if (used != it->second.size()) throw std::invalid_argument("--" + name + " expects a number");
  return v;
}

Args parse_args(int argc, char** argv, const std::vector<std::string>& flags) {
  Args args;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("--", 0) == 0 && a.size() > 2) {
      std::string name = a.substr(2);
      const auto eq = name.find('=');
      if (eq != std::string::npos) {
        args.options[name.substr(0, eq)] = name.substr(eq + 1);
      } else if (std::find(flags.begin(), flags.end(), name) != flags.end()) {
        args.options[name] = "1";
      } else {
        if (i + 1 >= argc) throw std::invalid_argument("option --" + name + " needs a value");
        args.options[name] = argv[++i];
      }
    } else {
      args.positional.push_back(a);
    }
  }
  return args;
}

int run_tool(const char* prog, const std::function<int()>& body) {
  try {
    return body();
  } catch (const std::exception& e) {
    // What the tool already printed goes out first: with stdout and stderr on
    // one terminal or pipe, buffered output would otherwise follow (or, after
    // a partial flush, surround) the error message.
    std::cout.flush();
    std::fflush(stdout);
    std::fprintf(stderr, "%s: error: %s\n", prog, e.what());
    return 2;
  }
}

}  // namespace tavce::tools
