// The train program's main under mpirun, with one rank interrupted as by `kill -INT <pid>`: rank 0
// raises SIGINT in itself while it prints the progress line of step 3 (the other ranks print
// nothing). Every rank must stop after the same step (4: the mark travels with the next step's
// all-reduce), save one checkpoint and exit 130, instead of rank 0 starting the checkpoint's
// collectives while the others start step 4's (Open MPI crashed with SIGSEGV). ctest checks the
// output (tests/dist/CMakeLists.txt).
#include <csignal>
#include <iostream>
#include <streambuf>
#include <string>

#include "dist/process_group.h"
#include "examples/train/run.h"

namespace {

// Passes text through to std::cout; raises SIGINT once, when a line containing `trigger` is written.
class RaiseOnText : public std::streambuf {
 public:
  explicit RaiseOnText(std::string trigger) : trigger_(std::move(trigger)) {}

 protected:
  int overflow(int c) override {
    if (c == EOF) return 0;
    std::cout.put(static_cast<char>(c));
    line_ += static_cast<char>(c);
    if (c == '\n') {
      if (!raised_ && line_.find(trigger_) != std::string::npos) {
        raised_ = true;
        std::cout.flush();
        std::raise(SIGINT);
      }
      line_.clear();
    }
    return c;
  }

 private:
  std::string trigger_, line_;
  bool raised_ = false;
};

}  // namespace

int main(int argc, char** argv) {
  tg::dist::ProcessGroup group;
  RaiseOnText buffer(" step 3/");
  std::ostream out(&buffer);
  return tg::dist::run_job(group, [&] {
    const int rc = tg::train::run_train(argc, argv, out, std::cerr, &group);
    if (rc != 0 && rc != 130) return rc;  // run_job's caller sees it; the peers time out
    group.check_same(rc, "the train program's exit code");  // throws (run_job ends the job) when they differ
    if (group.is_root()) std::cout << "every rank exited " << rc << std::endl;
    return rc;
  });
}
