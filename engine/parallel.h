// Thread settings: one knob for OpenMP and Eigen, so the two never oversubscribe the cores.
//
// Scope, as the two runtimes define it: OpenMP's team size is a setting of the calling thread (a
// std::thread you start begins with OMP_NUM_THREADS, or one per core, whatever main set), while
// Eigen's count is process-wide. So call set_num_threads in each thread that runs ops (e.g. two
// workers training two models on a 4-core machine: set_num_threads(2) in each);
// get_num_threads reports the calling thread's OpenMP team size.
#pragma once

namespace tg {

void set_num_threads(int n);  // n >= 1: the calling thread's OpenMP team size, and Eigen's count
int get_num_threads();        // the calling thread's OpenMP team size

}  // namespace tg
