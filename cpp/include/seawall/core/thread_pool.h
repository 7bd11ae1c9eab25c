// The native thread pool every kernel shares. Its size comes from set_num_threads(), or the
// SEAWALL_NUM_THREADS environment variable, or the cores this process may run on.
#pragma once

#include <cstdint>
#include <functional>

namespace seawall {

// Threads used by parallel_for, the caller included.
int num_threads();
// n >= 1 sets the size; n == 0 goes back to the default. Safe to call at any time from one thread.
void set_num_threads(int n);
// The default: SEAWALL_NUM_THREADS if set (and not empty), else the cores in this process's
// affinity mask. Throws InvalidInput naming the variable when it is set to anything but an integer
// from 1 to 1024, so every kernel that sizes the pool reports it.
int default_num_threads();

// Runs fn(begin, end) over consecutive pieces of [0, n), each of at least `grain` items, on the
// pool and the calling thread; returns when all are done. The first exception a piece throws is
// rethrown here once every piece has finished or been skipped. Called from inside a piece it runs
// serially, so nested kernels cannot deadlock.
void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);

}  // namespace seawall
