// Intra-op thread count for LibTorch (it starts with one thread unless told).
#pragma once

namespace tavce::runtime {

// Cores this process may run on (sched affinity), at least 1.
int available_cores();
// Sets LibTorch's intra-op threads; n <= 0 means available_cores().
// Returns the number set.
int configure_threads(int n);

}  // namespace tavce::runtime
