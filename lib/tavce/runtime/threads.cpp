#include "tavce/runtime/threads.h"

#include <sched.h>
#include <unistd.h>

#include <ATen/Parallel.h>

namespace tavce::runtime {

int available_cores() {
  // Affinity, not the machine's core count: under taskset, cgroups cpusets or
  // a CI runner the process may only be allowed a few of the cores.
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0) {
    const int n = CPU_COUNT(&set);
    if (n > 0) return n;
  }
  // More than CPU_SETSIZE (1024) CPUs makes sched_getaffinity fail with EINVAL.
  const long online = sysconf(_SC_NPROCESSORS_ONLN);
  return online > 0 ? static_cast<int>(online) : 1;
}

int configure_threads(int n) {
  if (n <= 0) n = available_cores();
  at::set_num_threads(n);
  return n;
}

}  // namespace tavce::runtime
