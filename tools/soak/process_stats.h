// What a long run watches of its own process: resident memory, threads and
// open file descriptors, read from /proc/self (Linux).
#pragma once

namespace tavce::soak {

struct ProcessStats {
  double rss_mib = 0;  // VmRSS
  int threads = 0;     // Threads
  int fds = 0;         // entries of /proc/self/fd
};

// Throws std::runtime_error when /proc/self cannot be read.
ProcessStats read_process_stats();

}  // namespace tavce::soak
