// The NCCL backend (CUDA tensors, TRUSTGRAD_WITH_NCCL): rank 0's ncclUniqueId is broadcast over the
// CPU backend, every rank joins one communicator on device `device_index` (one rank per GPU).
// Collectives are enqueued on a dedicated stream; a request completes when the event recorded
// after them has. Grouped ncclSend/ncclRecv is not needed: all-gatherv is one ncclBroadcast per rank.
// UNTESTED ON A GPU so far (it compiles and links against the CUDA toolkit's NCCL); opt-in.
#include "dist/nccl_backend.h"

#include <cuda_runtime.h>
#include <nccl.h>

#include "engine/error.h"

namespace tg::dist {

bool nccl_built() { return true; }

namespace {

void check_nccl(ncclResult_t r, const char* what) {
  TG_CHECK(r == ncclSuccess, "NCCL " << what << " failed: " << ncclGetErrorString(r));
}
void check_cuda(cudaError_t e, const char* what) {
  TG_CHECK(e == cudaSuccess, "NCCL backend: " << what << " failed: " << cudaGetErrorString(e));
}

ncclDataType_t nccl_type(ScalarType type) { return type == ScalarType::kFloat64 ? ncclFloat64 : ncclFloat32; }
ncclRedOp_t nccl_op(BackendOp op) { return op == BackendOp::kMax ? ncclMax : ncclSum; }

class EventRequest : public Request {
 public:
  explicit EventRequest(cudaStream_t stream) {
    check_cuda(cudaEventCreateWithFlags(&event_, cudaEventDisableTiming), "cudaEventCreate");
    const cudaError_t recorded = cudaEventRecord(event_, stream);
    if (recorded != cudaSuccess) cudaEventDestroy(event_);  // the destructor will not run
    check_cuda(recorded, "cudaEventRecord");
  }
  ~EventRequest() override { cudaEventDestroy(event_); }
  bool test() override {
    const cudaError_t e = cudaEventQuery(event_);
    if (e == cudaErrorNotReady) return false;
    check_cuda(e, "cudaEventQuery");
    return true;
  }

 private:
  cudaEvent_t event_ = nullptr;
};

class NcclBackend : public Backend {
 public:
  NcclBackend(Backend& cpu, int device_index) : rank_(cpu.rank()), size_(cpu.world_size()), local_rank_(cpu.local_rank()) {
    check_cuda(cudaSetDevice(device_index), "cudaSetDevice");
    ncclUniqueId id{};
    if (rank_ == 0) check_nccl(ncclGetUniqueId(&id), "ncclGetUniqueId");
    auto bootstrap = cpu.broadcast(&id, sizeof(id) / 4, ScalarType::kFloat32, 0);  // 128 bytes as 32 floats
    while (!bootstrap->test()) {
    }
    check_nccl(ncclCommInitRank(&comm_, size_, id, rank_), "ncclCommInitRank");
    check_cuda(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "cudaStreamCreate");
    int version = 0;
    ncclGetVersion(&version);
    name_ = "nccl " + std::to_string(version);
  }
  ~NcclBackend() override {
    if (comm_) ncclCommDestroy(comm_);  // null after abort_job, which freed it
    cudaStreamDestroy(stream_);
  }
  std::string name() const override { return name_; }
  int rank() const override { return rank_; }
  int world_size() const override { return size_; }
  int local_rank() const override { return local_rank_; }

  std::unique_ptr<Request> barrier() override { return done(); }  // the CPU backend's barrier orders ranks
  // ncclCommAbort frees the communicator: the handle must not reach ncclCommDestroy afterwards (with
  // the single CPU backend, run_job returns after abort_job and the group's destructor runs).
  void abort_job(int) override {
    if (comm_) ncclCommAbort(comm_);
    comm_ = nullptr;
  }
  std::unique_ptr<Request> broadcast(void* data, int64_t count, ScalarType type, int root) override {
    sync_producers();
    check_nccl(ncclBroadcast(data, data, static_cast<size_t>(count), nccl_type(type), root, comm_, stream_), "broadcast");
    return done();
  }
  std::unique_ptr<Request> all_reduce(void* data, int64_t count, ScalarType type, BackendOp op) override {
    sync_producers();
    check_nccl(ncclAllReduce(data, data, static_cast<size_t>(count), nccl_type(type), nccl_op(op), comm_, stream_),
               "all_reduce");
    return done();
  }
  std::unique_ptr<Request> all_gatherv(const void* send, void* recv, const std::vector<int64_t>& counts,
                                       ScalarType type) override {
    sync_producers();
    const size_t bytes = scalar_bytes(type);
    int64_t offset = 0;
    check_nccl(ncclGroupStart(), "group start");
    for (int r = 0; r < size_; ++r) {
      char* dst = static_cast<char*>(recv) + static_cast<size_t>(offset) * bytes;
      check_nccl(ncclBroadcast(r == rank_ ? send : dst, dst, static_cast<size_t>(counts[static_cast<size_t>(r)]),
                               nccl_type(type), r, comm_, stream_),
                 "all_gatherv");
      offset += counts[static_cast<size_t>(r)];
    }
    check_nccl(ncclGroupEnd(), "group end");
    return done();
  }
  std::unique_ptr<Request> reduce_scatter(const void* send, void* recv, int64_t count, ScalarType type,
                                          BackendOp op) override {
    sync_producers();
    check_nccl(ncclReduceScatter(send, recv, static_cast<size_t>(count), nccl_type(type), nccl_op(op), comm_, stream_),
               "reduce_scatter");
    return done();
  }

 private:
  // The tensors were written by kernels on the default stream: wait for them first.
  void sync_producers() { check_cuda(cudaStreamSynchronize(nullptr), "cudaStreamSynchronize"); }
  std::unique_ptr<Request> done() { return std::make_unique<EventRequest>(stream_); }

  ncclComm_t comm_ = nullptr;
  cudaStream_t stream_ = nullptr;
  int rank_, size_, local_rank_;
  std::string name_;
};

}  // namespace

std::unique_ptr<Backend> make_nccl_backend(Backend& cpu, int device_index) {
  return std::make_unique<NcclBackend>(cpu, device_index);
}

}  // namespace tg::dist
