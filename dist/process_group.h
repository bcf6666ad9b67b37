// tg::dist::ProcessGroup: the ranks of a data-parallel job and the collectives between them.
// Initialised from the MPI environment (mpirun, srun): rank, world size, local rank. Without
// mpirun, or in a build without MPI, it is a group of one whose collectives are the identity, so
// the same program runs single-process. CPU tensors travel over MPI; CUDA tensors over NCCL
// (opt-in, TRUSTGRAD_WITH_NCCL). Every collective waits at most timeout_seconds and throws
// tg::Error naming the op, what it carried and the rank; failures of the transport too.
//
//   tg::dist::ProcessGroup pg;                     // from the environment
//   pg.all_reduce(grad, tg::dist::ReduceOp::kAverage);
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "dist/backend.h"
#include "engine/tensor.h"

namespace tg::dist {

enum class ReduceOp { kSum, kAverage, kMax };

struct ProcessGroupOptions {
  // A collective that has not completed after this long throws (a peer died or took another path).
  double timeout_seconds = 300.0;
  bool force_single = false;  // a group of one even under mpirun (tests, tools)
};

// A collective in flight (non-blocking all-reduce of gradient buckets). Wait on it with
// ProcessGroup::wait; `what` names it in errors ("gradient bucket 3 (6.1 MiB)").
struct Work {
  std::unique_ptr<Request> request;
  std::string what;
  double seconds_waited = 0.0;  // time wait() spent blocked on it
  bool completed = false;
  bool test();  // progresses it; true once complete
};

class ProcessGroup {
 public:
  explicit ProcessGroup(ProcessGroupOptions options = {});
  ~ProcessGroup();
  ProcessGroup(const ProcessGroup&) = delete;
  ProcessGroup& operator=(const ProcessGroup&) = delete;

  int rank() const { return rank_; }
  int world_size() const { return world_size_; }
  int local_rank() const { return local_rank_; }
  bool is_root() const { return rank_ == 0; }
  std::string backend_name() const;  // "single", "mpi (Open MPI v4.1.4)"
  double timeout_seconds() const { return options_.timeout_seconds; }
  void set_timeout_seconds(double seconds);

  // ---- collectives on tensors (in place where the shape allows) ----
  // Each first checks that every rank passed the same element count, dtype, device type and root
  // or reduce op (one small all-gather): a mismatch is a tg::Error on every rank, not an MPI abort,
  // a truncated transfer or an overrun buffer. The raw-buffer calls below do not check: their
  // callers derive the counts from setups checked once (DataParallel, ShardedOptimizer).
  void barrier();
  void broadcast(const Tensor& t, int root = 0);
  void all_reduce(const Tensor& t, ReduceOp op = ReduceOp::kSum);
  // (world_size, *t.shape) with rank r's tensor at [r]; every rank passes the same shape.
  Tensor all_gather(const Tensor& t);
  // t: (world_size * k, ...) or any shape whose numel divides by world_size; returns this rank's
  // reduced block, shape (numel / world_size).
  Tensor reduce_scatter(const Tensor& t, ReduceOp op = ReduceOp::kSum);

  // ---- raw buffers (for DataParallel and ShardedOptimizer) ----
  // Starts a sum all-reduce of `count` floats in place; complete it with wait().
  Work all_reduce_async(float* data, int64_t count, std::string what);
  // The same on a float32 tensor's elements, through its device's backend (MPI for CPU tensors,
  // NCCL for CUDA ones). Unchecked across ranks, like the raw calls.
  Work all_reduce_async(const Tensor& flat, std::string what);
  // Blocks until the work completes or the timeout passes (then throws naming work.what).
  void wait(Work& work);
  void all_reduce(double* data, int64_t count, ReduceOp op, const std::string& what);
  void all_reduce(float* data, int64_t count, ReduceOp op, const std::string& what);
  void broadcast(float* data, int64_t count, int root, const std::string& what);
  // recv holds sum(counts) floats; rank r contributes counts[r] floats from send.
  void all_gatherv(const float* send, float* recv, const std::vector<int64_t>& counts, const std::string& what);
  void all_gatherv(const double* send, double* recv, const std::vector<int64_t>& counts, const std::string& what);

  // Throws tg::Error when any rank passes a different value (a setup mismatch), listing them.
  void check_same(int64_t value, const std::string& what);
  // The same for several {what, value} pairs in one all-gather; the message starts with `who` and
  // ends with `advice`. Collective: every rank throws alike.
  void check_same(const std::vector<std::pair<std::string, int64_t>>& values, const std::string& who,
                  const std::string& advice);

  // Ends the whole job at once (MPI_Abort; nothing in a world of one). For run_job only: the
  // library never calls it on its own paths.
  void abort_job(int code);

 private:
  Backend& backend_for(const Tensor& t, const char* op);
  void check_tensor_args(const char* op, const Tensor& t, const std::string& arg, int64_t value);
  void finish(std::unique_ptr<Request> request, const std::string& what);
  std::string where() const;  // "rank 1 of 2"

  ProcessGroupOptions options_;
  std::unique_ptr<Backend> cpu_;
  std::unique_ptr<Backend> cuda_;  // NCCL, created on the first CUDA tensor
  int rank_ = 0, world_size_ = 1, local_rank_ = 0;
};

// For a program's main(): runs `body`. When it throws on any rank, prints "trustgrad: rank r of N
// failed: <message>" to stderr and ends every rank (MPI_Abort) so that no peer waits in a
// collective; in a world of one it prints the same and returns 1. Returns body's exit code.
int run_job(ProcessGroup& group, const std::function<int()>& body);

// A setup that is not a number (names, shapes, text) as one value for ProcessGroup::check_same:
// the 52-bit FNV-1a hash of its bytes, exact through the double the check gathers.
int64_t fingerprint(const std::string& bytes);

// The launcher's world size from its environment (Open MPI, MPICH/PMI, Slurm srun), or 0 when
// not launched by one. ProcessGroup compares it with what the backend sees.
int launcher_world_size();

// The setup checks a ProcessGroup makes at start: `launched` ranks started by the launcher (0: no
// launcher), `world` ranks seen by the backend, `have_mpi` in this build. Throws tg::Error saying
// what is wrong (a build without MPI under mpirun; a launcher from another MPI than the build's).
void check_launch(int launched, int world, bool have_mpi);

}  // namespace tg::dist
