// ProcessGroup: picks the backend from the build and the environment, checks the launcher's world
// size against it, and waits on every collective with a timeout (polling the request, so a peer
// that never arrives is reported instead of hanging the job).
#include "dist/process_group.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <thread>

#include "dist/nccl_backend.h"
#include "engine/autograd.h"
#include "engine/error.h"
#include "engine/ops.h"

namespace tg::dist {

int launcher_world_size() {
  for (const char* key : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE"}) {
    if (const char* v = std::getenv(key)) {
      const int n = std::atoi(v);
      if (n > 0) return n;
    }
  }
  return 0;
}

bool Work::test() {
  if (!completed) completed = request->test();
  return completed;
}

ProcessGroup::ProcessGroup(ProcessGroupOptions options) : options_(options) {
  set_timeout_seconds(options.timeout_seconds);
  const int launched = launcher_world_size();
  if (!options.force_single) cpu_ = make_mpi_backend();
  const bool have_mpi = cpu_ != nullptr;
  if (!cpu_) cpu_ = make_single_backend();
  rank_ = cpu_->rank();
  world_size_ = cpu_->world_size();
  local_rank_ = cpu_->local_rank();
  if (!options.force_single) check_launch(launched, world_size_, have_mpi);
}

void check_launch(int launched, int world, bool have_mpi) {
  TG_CHECK(launched <= 1 || have_mpi,
           "process group: launched as " << launched << " ranks (mpirun/srun), but this build has no MPI "
                                         "(TRUSTGRAD_MPI=OFF or MPI not found at configure time): every rank would "
                                         "train alone. Install libopenmpi-dev and reconfigure, or run one process");
  TG_CHECK(launched == 0 || launched == world,
           "process group: the launcher started " << launched << " ranks but MPI sees a world of " << world
                                                  << ": the program was built against a different MPI than the "
                                                     "mpirun that launched it");
}

ProcessGroup::~ProcessGroup() = default;

std::string ProcessGroup::backend_name() const {
  return cpu_->name() + (cuda_ ? " + " + cuda_->name() : std::string());
}

void ProcessGroup::set_timeout_seconds(double seconds) {
  TG_CHECK(seconds > 0.0, "process group: the collective timeout must be > 0 seconds, got " << seconds);
  options_.timeout_seconds = seconds;
}

std::string ProcessGroup::where() const {
  return "rank " + std::to_string(rank_) + " of " + std::to_string(world_size_);
}

void ProcessGroup::wait(Work& work) {
  if (work.completed) return;
  using clock = std::chrono::steady_clock;
  const auto start = clock::now();
  const auto deadline = start + std::chrono::duration<double>(options_.timeout_seconds);
  try {
    while (!work.test()) {
      if (clock::now() > deadline) {
        std::ostringstream os;
        os << work.what << ": " << where() << " waited " << options_.timeout_seconds
           << " s for the other ranks, which have not joined this collective (a rank failed, hangs, or runs "
              "another code path; raise the limit with the collective timeout option if steps are that slow)";
        throw Error(os.str());
      }
      std::this_thread::yield();
    }
  } catch (const Error& e) {
    if (std::string(e.what()).rfind(work.what, 0) == 0) throw;  // our timeout message
    throw Error(work.what + " on " + where() + ": " + e.what());
  }
  work.seconds_waited += std::chrono::duration<double>(clock::now() - start).count();
}

void ProcessGroup::finish(std::unique_ptr<Request> request, const std::string& what) {
  Work work{std::move(request), what};
  wait(work);
}

Work ProcessGroup::all_reduce_async(float* data, int64_t count, std::string what) {
  try {
    return Work{cpu_->all_reduce(data, count, ScalarType::kFloat32, BackendOp::kSum), std::move(what)};
  } catch (const Error& e) {
    throw Error(what + " on " + where() + ": " + e.what());
  }
}

Work ProcessGroup::all_reduce_async(const Tensor& flat, std::string what) {
  Backend& b = backend_for(flat, "all_reduce_async");
  try {
    return Work{b.all_reduce(flat.data(), flat.numel(), ScalarType::kFloat32, BackendOp::kSum), std::move(what)};
  } catch (const Error& e) {
    throw Error(what + " on " + where() + ": " + e.what());
  }
}

namespace {

BackendOp backend_op(ReduceOp op) { return op == ReduceOp::kMax ? BackendOp::kMax : BackendOp::kSum; }

template <class T>
void scale(T* data, int64_t count, double factor) {
  const T f = static_cast<T>(factor);
  for (int64_t i = 0; i < count; ++i) data[i] *= f;
}

}  // namespace

void ProcessGroup::all_reduce(double* data, int64_t count, ReduceOp op, const std::string& what) {
  finish(cpu_->all_reduce(data, count, ScalarType::kFloat64, backend_op(op)), what);
  if (op == ReduceOp::kAverage) scale(data, count, 1.0 / world_size_);
}

void ProcessGroup::all_reduce(float* data, int64_t count, ReduceOp op, const std::string& what) {
  finish(cpu_->all_reduce(data, count, ScalarType::kFloat32, backend_op(op)), what);
  if (op == ReduceOp::kAverage) scale(data, count, 1.0 / world_size_);
}

void ProcessGroup::broadcast(float* data, int64_t count, int root, const std::string& what) {
  TG_CHECK(root >= 0 && root < world_size_, what << ": broadcast root " << root << " is not a rank of a world of "
                                                 << world_size_);
  finish(cpu_->broadcast(data, count, ScalarType::kFloat32, root), what);
}

void ProcessGroup::all_gatherv(const float* send, float* recv, const std::vector<int64_t>& counts,
                               const std::string& what) {
  finish(cpu_->all_gatherv(send, recv, counts, ScalarType::kFloat32), what);
}

void ProcessGroup::all_gatherv(const double* send, double* recv, const std::vector<int64_t>& counts,
                               const std::string& what) {
  finish(cpu_->all_gatherv(send, recv, counts, ScalarType::kFloat64), what);
}

int64_t fingerprint(const std::string& bytes) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char b : bytes) h = (h ^ b) * 1099511628211ull;
  return static_cast<int64_t>(h & ((uint64_t{1} << 52) - 1));
}

void ProcessGroup::check_same(int64_t value, const std::string& what) {
  check_same({{what, value}}, "process group", "every rank must run the same setup");
}

void ProcessGroup::check_same(const std::vector<std::pair<std::string, int64_t>>& values, const std::string& who,
                              const std::string& advice) {
  const size_t k = values.size(), n = static_cast<size_t>(world_size_);
  std::vector<double> mine(k), all(k * n);
  for (size_t i = 0; i < k; ++i) mine[i] = static_cast<double>(values[i].second);
  all_gatherv(mine.data(), all.data(), std::vector<int64_t>(n, static_cast<int64_t>(k)),
              k == 1 ? "check of " + values[0].first : "check of the arguments of " + who);
  for (size_t i = 0; i < k; ++i) {
    std::ostringstream os;
    bool same = true;
    for (size_t r = 0; r < n; ++r) {
      same = same && all[r * k + i] == all[i];
      os << (r ? ", " : "") << "rank " << r << " has " << static_cast<int64_t>(all[r * k + i]);
    }
    TG_CHECK(same, who << ": the ranks disagree on " << values[i].first << ": " << os.str() << "; " << advice);
  }
}

void ProcessGroup::abort_job(int code) {
  if (cuda_) cuda_->abort_job(code);
  cpu_->abort_job(code);
}

int run_job(ProcessGroup& group, const std::function<int()>& body) {
  try {
    return body();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "trustgrad: rank %d of %d failed: %s\n", group.rank(), group.world_size(), e.what());
    std::fflush(stderr);
    group.abort_job(1);
    return 1;
  }
}

Backend& ProcessGroup::backend_for(const Tensor& t, const char* op) {
  check_defined(t, op, "tensor");
  TG_CHECK(t.dtype() == DType::Float32, op << ": only float32 tensors are supported, got " << dtype_name(t.dtype()));
  if (t.device().is_cpu()) return *cpu_;
  if (!cuda_) cuda_ = make_nccl_backend(*cpu_, t.device().index);
  return *cuda_;
}

// MPI matches collectives by their order alone: measured with Open MPI 4.1, a broadcast of 4 floats
// into 6 left 2 stale values silently, 6 into 4 aborted the job (MPI_ERR_TRUNCATE), an all-reduce of
// 4 against 6 aborted it and of 4000 against 6000 corrupted the heap; different roots or ops are
// erroneous too. So the ranks first agree on what they pass (before any local check, so that a
// refusal happens on every rank instead of leaving the others waiting for the timeout).
void ProcessGroup::check_tensor_args(const char* op, const Tensor& t, const std::string& arg, int64_t value) {
  std::vector<std::pair<std::string, int64_t>> values{
      {"the element count of the tensor (-1: undefined)", t.defined() ? t.numel() : -1},
      {"the dtype of the tensor (0 float32, 1 bfloat16, 2 float16)", t.defined() ? static_cast<int64_t>(t.dtype()) : -1},
      {"the device type of the tensor (0 cpu, 1 cuda)", t.defined() && t.device().is_cuda() ? 1 : 0}};
  if (!arg.empty()) values.emplace_back(arg, value);
  check_same(values, std::string(op) + (t.defined() ? " of " + shape_str(t.shape()) : std::string()) + " on " + where(),
             "every rank must make the same collective call with the same arguments");
}

void ProcessGroup::barrier() { finish(cpu_->barrier(), "barrier"); }

void ProcessGroup::broadcast(const Tensor& t, int root) {
  check_tensor_args("broadcast", t, "the root", root);
  TG_CHECK(root >= 0 && root < world_size_, "broadcast: root " << root << " is not a rank of a world of " << world_size_);
  Backend& b = backend_for(t, "broadcast");
  finish(b.broadcast(t.data(), t.numel(), ScalarType::kFloat32, root),
         "broadcast of " + shape_str(t.shape()) + " from rank " + std::to_string(root));
  t.bump_version();  // written in place
}

void ProcessGroup::all_reduce(const Tensor& t, ReduceOp op) {
  check_tensor_args("all_reduce", t, "the reduce op (0 sum, 1 average, 2 max)", static_cast<int64_t>(op));
  Backend& b = backend_for(t, "all_reduce");
  finish(b.all_reduce(t.data(), t.numel(), ScalarType::kFloat32, backend_op(op)), "all_reduce of " + shape_str(t.shape()));
  t.bump_version();  // written in place
  if (op == ReduceOp::kAverage) {
    NoGradGuard no_grad;
    t.copy_(mul(t, 1.0f / static_cast<float>(world_size_)));
  }
}

Tensor ProcessGroup::all_gather(const Tensor& t) {
  check_tensor_args("all_gather", t, "", 0);
  Backend& b = backend_for(t, "all_gather");
  Shape shape = t.shape();
  shape.insert(shape.begin(), world_size_);
  Tensor out = Tensor::empty(shape, t.device());
  finish(b.all_gatherv(t.data(), out.data(), std::vector<int64_t>(static_cast<size_t>(world_size_), t.numel()),
                       ScalarType::kFloat32),
         "all_gather of " + shape_str(t.shape()));
  return out;
}

Tensor ProcessGroup::reduce_scatter(const Tensor& t, ReduceOp op) {
  check_tensor_args("reduce_scatter", t, "the reduce op (0 sum, 1 average, 2 max)", static_cast<int64_t>(op));
  Backend& b = backend_for(t, "reduce_scatter");
  TG_CHECK(t.numel() % world_size_ == 0, "reduce_scatter: " << shape_str(t.shape()) << " has " << t.numel()
                                                            << " elements, not divisible by the world size " << world_size_);
  const int64_t count = t.numel() / world_size_;
  Tensor out = Tensor::empty({count}, t.device());
  finish(b.reduce_scatter(t.data(), out.data(), count, ScalarType::kFloat32, backend_op(op)),
         "reduce_scatter of " + shape_str(t.shape()));
  if (op == ReduceOp::kAverage) {
    NoGradGuard no_grad;
    out.copy_(mul(out, 1.0f / static_cast<float>(world_size_)));
  }
  return out;
}

}  // namespace tg::dist
