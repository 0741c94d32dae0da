#include "soak/process_stats.h"

#include <dirent.h>

#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>

namespace tavce::soak {

ProcessStats read_process_stats() {
  ProcessStats s;
  std::ifstream status("/proc/self/status");
  if (!status) throw std::runtime_error("cannot read /proc/self/status (a Linux /proc is needed)");
  bool have_rss = false, have_threads = false;
  for (std::string line; std::getline(status, line);) {
    std::istringstream fields(line);
    std::string key;
    fields >> key;
    if (key == "VmRSS:") {
      double kib = 0;
      fields >> kib;
      s.rss_mib = kib / 1024.0;
      have_rss = true;
    } else if (key == "Threads:") {
      fields >> s.threads;
      have_threads = true;
    }
  }
  if (!have_rss || !have_threads) throw std::runtime_error("/proc/self/status has no VmRSS or Threads line");

  DIR* dir = opendir("/proc/self/fd");
  if (!dir) throw std::runtime_error("cannot list /proc/self/fd");
  int entries = 0;
  while (const dirent* e = readdir(dir))
    if (e->d_name[0] != '.') entries++;
  closedir(dir);
  s.fds = entries - 1;  // the directory stream itself is one of them
  return s;
}

}  // namespace tavce::soak
