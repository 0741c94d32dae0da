// The one exception type libtavce throws for bad input (files, keys, shapes,
// parameters). Elements and tools catch it at their boundary and report what().
#pragma once

#include <stdexcept>
#include <string>

namespace tavce {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

}  // namespace tavce
