// The world-size-1 backend: every collective over one rank is the identity (all-gather and
// reduce-scatter copy). The same program runs without mpirun and without MPI in the build.
#include <cstring>

#include "dist/backend.h"
#include "engine/error.h"

namespace tg::dist {

size_t scalar_bytes(ScalarType type) { return type == ScalarType::kFloat64 ? 8 : 4; }

namespace {

class SingleBackend : public Backend {
 public:
  std::string name() const override { return "single"; }
  int rank() const override { return 0; }
  int world_size() const override { return 1; }
  int local_rank() const override { return 0; }
  std::unique_ptr<Request> barrier() override { return done(); }
  void abort_job(int) override {}  // nothing else to end: run_job returns the error code
  std::unique_ptr<Request> broadcast(void*, int64_t, ScalarType, int) override { return done(); }
  std::unique_ptr<Request> all_reduce(void*, int64_t, ScalarType, BackendOp) override { return done(); }
  std::unique_ptr<Request> all_gatherv(const void* send, void* recv, const std::vector<int64_t>& counts,
                                       ScalarType type) override {
    copy(send, recv, counts.at(0), type);
    return done();
  }
  std::unique_ptr<Request> reduce_scatter(const void* send, void* recv, int64_t count, ScalarType type,
                                          BackendOp) override {
    copy(send, recv, count, type);
    return done();
  }

 private:
  static std::unique_ptr<Request> done() { return std::make_unique<CompletedRequest>(); }
  static void copy(const void* send, void* recv, int64_t count, ScalarType type) {
    if (send != recv && count > 0) std::memcpy(recv, send, static_cast<size_t>(count) * scalar_bytes(type));
  }
};

}  // namespace

std::unique_ptr<Backend> make_single_backend() { return std::make_unique<SingleBackend>(); }

}  // namespace tg::dist
