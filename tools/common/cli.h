// Shared plumbing of the command-line tools: argument parsing and error reporting.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

namespace tavce::tools {

// "--name value" and "--flag" options plus positional arguments.
struct Args {
  std::vector<std::string> positional;
  std::map<std::string, std::string> options;

  bool has(const std::string& name) const { return options.count(name) > 0; }
  std::string get(const std::string& name, const std::string& fallback) const;
  int get_int(const std::string& name, int fallback) const;
  double get_double(const std::string& name, double fallback) const;
};

// "a,b,,c" -> {"a", "b", "c"}: a comma-separated option value, empty items dropped.
std::vector<std::string> split_list(const std::string& s);

// flags: option names that take no value.
Args parse_args(int argc, char** argv, const std::vector<std::string>& flags = {});

// Runs body, turning any exception into "PROG: error: ..." on stderr and exit
// code 2, after flushing what body wrote to stdout.
int run_tool(const char* prog, const std::function<int()>& body);

}  // namespace tavce::tools
