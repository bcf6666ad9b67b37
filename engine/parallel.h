// Thread settings: one knob for OpenMP and Eigen, so the two never oversubscribe the cores.
#pragma once

namespace tg {

void set_num_threads(int n);  // n >= 1; also sets Eigen's thread count
int get_num_threads();

}  // namespace tg
