// One thread count for OpenMP and Eigen (Eigen's GEMM uses OpenMP when compiled with it).
#include "engine/parallel.h"

#include <omp.h>

#include "engine/cpu/eigen_core.h"
#include "engine/error.h"

namespace tg {

void set_num_threads(int n) {
  TG_CHECK(n >= 1, "set_num_threads: need at least 1 thread, got " << n);
  omp_set_num_threads(n);
  Eigen::setNbThreads(n);
}

int get_num_threads() { return omp_get_max_threads(); }

}  // namespace tg
