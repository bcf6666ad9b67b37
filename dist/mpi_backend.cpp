// The MPI backend (CPU tensors): MPI_COMM_WORLD duplicated, non-blocking MPI-3 collectives
// (MPI_Ibcast, MPI_Iallreduce, MPI_Iallgatherv, MPI_Ireduce_scatter_block, MPI_Ibarrier) so
// that the ProcessGroup can wait with a timeout. Errors return (MPI_ERRORS_RETURN) and become
// tg::Error with MPI's own message. MPI is initialised once per process on first use
// (MPI_THREAD_FUNNELED: only the thread that created the group calls MPI) and finalised at exit.
#include <mpi.h>

#include <climits>
#include <cstdlib>

#include "dist/backend.h"
#include "engine/error.h"

namespace tg::dist {

bool mpi_built() { return true; }

namespace {

void check_mpi(int code, const char* what) {
  if (code == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(code, text, &length);
  throw Error(std::string("MPI ") + what + " failed: " + std::string(text, static_cast<size_t>(length)));
}

// MPI's process-wide lifetime: initialised on first use, finalised when the program exits.
class MpiRuntime {
 public:
  MpiRuntime() {
    int initialized = 0;
    MPI_Initialized(&initialized);
    if (!initialized) {
      int provided = 0;
      check_mpi(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
      owned_ = true;
    }
  }
  ~MpiRuntime() {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (owned_ && !finalized) MPI_Finalize();
  }
  MpiRuntime(const MpiRuntime&) = delete;
  MpiRuntime& operator=(const MpiRuntime&) = delete;

 private:
  bool owned_ = false;
};

void ensure_mpi_initialized() { static MpiRuntime runtime; }

MPI_Datatype mpi_type(ScalarType type) { return type == ScalarType::kFloat64 ? MPI_DOUBLE : MPI_FLOAT; }
MPI_Op mpi_op(BackendOp op) { return op == BackendOp::kMax ? MPI_MAX : MPI_SUM; }

int mpi_count(int64_t count, const char* op) {
  TG_CHECK(count >= 0 && count <= INT_MAX, "MPI " << op << ": " << count << " elements exceed MPI's int count; "
                                                  "split the tensor");
  return static_cast<int>(count);
}

class MpiRequest : public Request {
 public:
  explicit MpiRequest(const char* op) : op_(op) {}
  // A collective abandoned after an error (timeout) is left to MPI: freeing or cancelling a
  // non-blocking collective's request is erroneous in MPI, and the job is ending anyway.
  bool test() override {
    if (request_ == MPI_REQUEST_NULL) return true;
    int done = 0;
    check_mpi(MPI_Test(&request_, &done, MPI_STATUS_IGNORE), op_);
    return done != 0;
  }
  MPI_Request* handle() { return &request_; }
  std::vector<int> counts, displs;  // all_gatherv's arguments: MPI reads them until completion

 private:
  const char* op_;
  MPI_Request request_ = MPI_REQUEST_NULL;
};

class MpiBackend : public Backend {
 public:
  MpiBackend() {
    ensure_mpi_initialized();
    check_mpi(MPI_Comm_dup(MPI_COMM_WORLD, &comm_), "MPI_Comm_dup");
    MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN);
    MPI_Comm_rank(comm_, &rank_);
    MPI_Comm_size(comm_, &size_);
    MPI_Comm local = MPI_COMM_NULL;
    check_mpi(MPI_Comm_split_type(comm_, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &local), "MPI_Comm_split_type");
    MPI_Comm_rank(local, &local_rank_);
    MPI_Comm_free(&local);
    char version[MPI_MAX_LIBRARY_VERSION_STRING];
    int length = 0;
    MPI_Get_library_version(version, &length);
    std::string v(version, static_cast<size_t>(length));
    name_ = "mpi (" + v.substr(0, v.find(',')) + ")";
  }
  ~MpiBackend() override {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (!finalized) MPI_Comm_free(&comm_);
  }

  std::string name() const override { return name_; }
  int rank() const override { return rank_; }
  int world_size() const override { return size_; }
  int local_rank() const override { return local_rank_; }

  void abort_job(int code) override { MPI_Abort(MPI_COMM_WORLD, code); }

  std::unique_ptr<Request> barrier() override {
    auto r = std::make_unique<MpiRequest>("barrier");
    check_mpi(MPI_Ibarrier(comm_, r->handle()), "MPI_Ibarrier");
    return r;
  }
  std::unique_ptr<Request> broadcast(void* data, int64_t count, ScalarType type, int root) override {
    auto r = std::make_unique<MpiRequest>("broadcast");
    check_mpi(MPI_Ibcast(data, mpi_count(count, "broadcast"), mpi_type(type), root, comm_, r->handle()), "MPI_Ibcast");
    return r;
  }
  std::unique_ptr<Request> all_reduce(void* data, int64_t count, ScalarType type, BackendOp op) override {
    auto r = std::make_unique<MpiRequest>("all_reduce");
    check_mpi(MPI_Iallreduce(MPI_IN_PLACE, data, mpi_count(count, "all_reduce"), mpi_type(type), mpi_op(op), comm_,
                             r->handle()),
              "MPI_Iallreduce");
    return r;
  }
  std::unique_ptr<Request> all_gatherv(const void* send, void* recv, const std::vector<int64_t>& counts,
                                       ScalarType type) override {
    TG_CHECK(static_cast<int>(counts.size()) == size_, "all_gatherv: " << counts.size() << " counts for "
                                                                         << size_ << " ranks");
    auto r = std::make_unique<MpiRequest>("all_gather");
    r->counts.assign(counts.size(), 0);
    r->displs.assign(counts.size(), 0);
    int64_t offset = 0;
    for (size_t k = 0; k < counts.size(); ++k) {
      r->counts[k] = mpi_count(counts[k], "all_gatherv");
      r->displs[k] = mpi_count(offset, "all_gatherv");
      offset += counts[k];
    }
    check_mpi(MPI_Iallgatherv(send, r->counts[static_cast<size_t>(rank_)], mpi_type(type), recv, r->counts.data(),
                              r->displs.data(), mpi_type(type), comm_, r->handle()),
              "MPI_Iallgatherv");
    return r;
  }
  std::unique_ptr<Request> reduce_scatter(const void* send, void* recv, int64_t count, ScalarType type,
                                          BackendOp op) override {
    auto r = std::make_unique<MpiRequest>("reduce_scatter");
    check_mpi(MPI_Ireduce_scatter_block(send, recv, mpi_count(count, "reduce_scatter"), mpi_type(type), mpi_op(op),
                                        comm_, r->handle()),
              "MPI_Ireduce_scatter_block");
    return r;
  }

 private:
  MPI_Comm comm_ = MPI_COMM_NULL;
  int rank_ = 0, size_ = 1, local_rank_ = 0;
  std::string name_;
};

}  // namespace

std::unique_ptr<Backend> make_mpi_backend() { return std::make_unique<MpiBackend>(); }

}  // namespace tg::dist
