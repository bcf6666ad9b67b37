// dist::Backend: the transport under a ProcessGroup. Every collective is non-blocking and returns
// a Request; the ProcessGroup waits on it (with a timeout) and names the op and rank on failure.
// Three backends: single (world size 1, no MPI needed), MPI (CPU tensors), NCCL (CUDA tensors).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace tg::dist {

enum class ScalarType { kFloat32, kFloat64 };
size_t scalar_bytes(ScalarType type);

// Backends reduce with sum or max; the average is a sum followed by a scale (ProcessGroup).
enum class BackendOp { kSum, kMax };

// An operation in flight. test() drives progress and returns true once it has completed.
class Request {
 public:
  virtual ~Request() = default;
  virtual bool test() = 0;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0;  // "single", "mpi (Open MPI v4.1.4)", "nccl 2.21.5"
  virtual int rank() const = 0;
  virtual int world_size() const = 0;
  virtual int local_rank() const = 0;  // rank among the processes on this host

  virtual std::unique_ptr<Request> barrier() = 0;
  virtual std::unique_ptr<Request> broadcast(void* data, int64_t count, ScalarType type, int root) = 0;
  // In place: data <- op over ranks of data.
  virtual std::unique_ptr<Request> all_reduce(void* data, int64_t count, ScalarType type, BackendOp op) = 0;
  // recv holds sum(counts) elements; rank r's `counts[r]` elements land at offset sum(counts[<r]).
  virtual std::unique_ptr<Request> all_gatherv(const void* send, void* recv, const std::vector<int64_t>& counts,
                                               ScalarType type) = 0;
  // send holds world_size * count elements; rank r receives the sum over ranks of block r.
  virtual std::unique_ptr<Request> reduce_scatter(const void* send, void* recv, int64_t count, ScalarType type,
                                                  BackendOp op) = 0;
  // Ends every rank of the job (MPI_Abort). Only dist::run_job calls it, from a program's main.
  virtual void abort_job(int code) = 0;
};

// A request that is already complete (the single backend's, and empty operations').
class CompletedRequest : public Request {
 public:
  bool test() override { return true; }
};

std::unique_ptr<Backend> make_single_backend();
// MPI_COMM_WORLD duplicated, after MPI_Init_thread (once per process, finalized at exit); returns
// nullptr when the build has no MPI. Throws tg::Error when MPI fails to initialise.
std::unique_ptr<Backend> make_mpi_backend();
bool mpi_built();   // TRUSTGRAD_WITH_MPI
bool nccl_built();  // TRUSTGRAD_WITH_NCCL

}  // namespace tg::dist
