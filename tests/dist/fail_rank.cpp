// A data-parallel training loop in which rank 1 throws in its third step. Under mpirun the job
// must end within seconds with rank 1's message (dist::run_job aborts the job), not hang with
// rank 0 waiting in the gradient all-reduce. ctest checks the output (tests/dist/CMakeLists.txt).
#include <cstdio>

#include "dist_test_util.h"
#include "engine/error.h"

int main() {
  using namespace tg::dist;
  using namespace tg::dist::testing;
  ProcessGroup pg(ProcessGroupOptions{.timeout_seconds = 120.0});
  return run_job(pg, [&] {
    auto model = make_model(3);
    DataParallel ddp(pg, *model);
    auto opt = make_lambc(lambc_groups(*model));
    for (int s = 0; s < 5; ++s) {
      if (pg.rank() == 1 && s == 2) throw tg::Error("injected failure in step 3");
      const Data d = batch(s, 16);
      forward_backward(*model, rows(d, pg.rank() * 8, 8));
      ddp.synchronize();
      opt->step();
      opt->zero_grad();
    }
    std::printf("rank %d finished without the failure\n", pg.rank());
    return 0;
  });
}
