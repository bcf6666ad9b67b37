// The train program: `train --help` lists every flag. All logic lives in run.cpp (testable).
// Under mpirun every rank runs this; a rank that fails ends the whole job with its message
// (dist::run_job / abort_job, the only place MPI_Abort is called).
#include <iostream>

#include "dist/process_group.h"
#include "examples/train/run.h"

int main(int argc, char** argv) {
  tg::dist::ProcessGroup group;  // from mpirun's environment; a group of one otherwise
  return tg::dist::run_job(group, [&] {
    const int rc = tg::train::run_train(argc, argv, std::cout, std::cerr, &group);
    if (rc != 0 && rc != 130 && group.world_size() > 1) {
      std::cerr << "train: rank " << group.rank() << " of " << group.world_size() << " failed (exit " << rc
                << "); ending the job\n";
      group.abort_job(rc);
    }
    return rc;
  });
}
