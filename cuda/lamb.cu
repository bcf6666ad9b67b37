// LAMB-family kernels. A tensor is cut into chunks of kChunk elements, one block per chunk.
//   pass 1 (read-only): per chunk, sum w^2, u^2, g^2 (double) -> partial[chunk]
//   pass 2: every block of a tensor re-adds that tensor's chunk partials in the same fixed order
//           (so all its blocks agree bit for bit on r), computes r, writes m, v, w.
// Nothing returns to the host between the passes. The element math (moments, u, the clipped ratio) is
// engine/kernel_params/optimizer_math.h, the CPU kernels' own. With global gradient clipping (multi-tensor), a
// pass 0 sums g^2 per chunk and one block turns it into the clip factor before pass 1.
#include "cuda/lamb.h"

#include "cuda/launch.h"
#include "cuda/runtime.h"
#include "cuda/scratch.h"
#include "engine/kernel_params/optimizer_math.h"

namespace tg::cuda {

namespace {

constexpr int64_t kChunk = LambMultiTensorPlan::kChunk;
constexpr int kLambBlock = 256;

struct TensorEntry {
  float* w;
  const float* g;
  float* m;
  float* v;
  int64_t n;
  float weight_decay;  // applied per `mode` (multi-tensor); 0 for the single-tensor path
  float lr_mult;
  float decay_fixed;   // single-tensor path: the caller's decay; 1 for multi-tensor
  int adapt;
  int64_t chunk0, nchunks;
};

struct StepParams {
  AdamCoeffs c;
  float lr;
  int mode;  // LambWeightDecay for per-tensor weight decay, -1: none (single tensor: c carries it)
  float clip_min, clip_max;
};

struct SingleTable {
  TensorEntry e;
  __device__ const TensorEntry& entry(int64_t) const { return e; }
  __device__ int64_t tensor(int64_t) const { return 0; }
};

struct MultiTable {
  const TensorEntry* entries;
  const int* chunk_tensor;
  __device__ const TensorEntry& entry(int64_t t) const { return entries[t]; }
  __device__ int64_t tensor(int64_t chunk) const { return chunk_tensor[chunk]; }
};

// This tensor's coefficients, decay and lr from the step's and the entry's.
__device__ __forceinline__ AdamCoeffs tensor_coeffs(const TensorEntry& e, const StepParams& p, const float* gscale,
                                                    float& decay, float& lr) {
  AdamCoeffs c = p.c;
  if (gscale) c.grad_scale *= *gscale;
  lr = p.lr * e.lr_mult;
  decay = e.decay_fixed;
  if (p.mode == static_cast<int>(LambWeightDecay::kL2Gradient)) c.l2_grad += e.weight_decay;
  if (p.mode == static_cast<int>(LambWeightDecay::kL2Update)) c.l2_update += e.weight_decay;
  if (p.mode == static_cast<int>(LambWeightDecay::kDecoupled)) decay *= 1.f - lr * e.weight_decay;
  return c;
}

template <class Table>
__global__ void __launch_bounds__(kLambBlock)
    norms_kernel(Table tab, int64_t num_chunks, StepParams p, const float* gscale, double* partial) {
  __shared__ double shared[32];
  for (int64_t chunk = blockIdx.x; chunk < num_chunks; chunk += gridDim.x) {
    const TensorEntry& e = tab.entry(tab.tensor(chunk));
    float decay, lr;
    const AdamCoeffs c = tensor_coeffs(e, p, gscale, decay, lr);
    const int64_t begin = (chunk - e.chunk0) * kChunk, end = min(begin + kChunk, e.n);
    double ww = 0.0, uu = 0.0, gg = 0.0;
    for (int64_t i = begin + threadIdx.x; i < end; i += blockDim.x) {
      float mi = e.m[i], vi = e.v[i];
      const float w = e.w[i], g = e.g[i];
      const float u = adam_direction(w, g, mi, vi, c);
      ww += static_cast<double>(w) * w;
      uu += static_cast<double>(u) * u;
      gg += static_cast<double>(g) * g;
    }
    ww = block_sum(ww, shared);
    uu = block_sum(uu, shared);
    gg = block_sum(gg, shared);
    if (threadIdx.x == 0) {
      partial[3 * chunk] = ww;
      partial[3 * chunk + 1] = uu;
      partial[3 * chunk + 2] = gg;
    }
  }
}

// r = clamp(||w|| / ||u||, clip_min, clip_max), 1 when either norm is 0 or the tensor is not adapted.
// The CPU's rule (optim::LambFamily::trust_step), through the same clipped_trust_ratio.
__device__ __forceinline__ double trust_ratio(double w_sq, double u_sq, double decay, bool adapt, double clip_min,
                                             double clip_max, double& raw, double& w_norm, double& u_norm) {
  w_norm = sqrt(w_sq) * fabs(decay);
  u_norm = sqrt(u_sq);
  if (!adapt) {
    raw = 1.0;
    return 1.0;
  }
  return clipped_trust_ratio(w_norm, u_norm, clip_min, clip_max, raw);
}

template <class Table>
__global__ void __launch_bounds__(kLambBlock)
    update_kernel(Table tab, int64_t num_chunks, StepParams p, const float* gscale, const double* partial,
                  float* telemetry) {
  __shared__ double shared[32];
  for (int64_t chunk = blockIdx.x; chunk < num_chunks; chunk += gridDim.x) {
    const int64_t t = tab.tensor(chunk);
    const TensorEntry& e = tab.entry(t);
    float decay, lr;
    const AdamCoeffs c = tensor_coeffs(e, p, gscale, decay, lr);
    // This tensor's norms from its chunk partials: same data, same order, same tree in every block.
    double ww = 0.0, uu = 0.0, gg = 0.0;
    for (int64_t k = threadIdx.x; k < e.nchunks; k += blockDim.x) {
      ww += partial[3 * (e.chunk0 + k)];
      uu += partial[3 * (e.chunk0 + k) + 1];
      gg += partial[3 * (e.chunk0 + k) + 2];
    }
    ww = block_sum(ww, shared);
    uu = block_sum(uu, shared);
    gg = block_sum(gg, shared);
    double raw, w_norm, u_norm;
    const double r = float_safe_ratio(trust_ratio(ww, uu, decay, e.adapt != 0, p.clip_min, p.clip_max, raw, w_norm, u_norm),
                                      static_cast<double>(lr));  // lr r <= 2^127
    const float step = static_cast<float>(static_cast<double>(lr) * r);  // w -= lr r u
    if (telemetry && chunk == e.chunk0 && threadIdx.x == 0) {
      float* out = telemetry + kLambTelemetry * t;
      out[0] = static_cast<float>(r);
      out[1] = static_cast<float>(raw);
      out[2] = static_cast<float>(w_norm);
      out[3] = static_cast<float>(u_norm);
      out[4] = static_cast<float>(sqrt(gg));
    }
    const int64_t begin = (chunk - e.chunk0) * kChunk, end = min(begin + kChunk, e.n);
    for (int64_t i = begin + threadIdx.x; i < end; i += blockDim.x) {
      float mi = e.m[i], vi = e.v[i];
      const float w = e.w[i];
      const float u = adam_direction(w, e.g[i], mi, vi, c);
      e.m[i] = mi;
      e.v[i] = vi;
      e.w[i] = decay * w - step * u;  // w = (1 - lr wd) w - lr r u
    }
  }
}

// Pass 0 of global clipping: g^2 per chunk.
__global__ void __launch_bounds__(kLambBlock)
    grad_sq_kernel(MultiTable tab, int64_t num_chunks, double* partial_g) {
  __shared__ double shared[32];
  for (int64_t chunk = blockIdx.x; chunk < num_chunks; chunk += gridDim.x) {
    const TensorEntry& e = tab.entry(tab.tensor(chunk));
    const int64_t begin = (chunk - e.chunk0) * kChunk, end = min(begin + kChunk, e.n);
    double gg = 0.0;
    for (int64_t i = begin + threadIdx.x; i < end; i += blockDim.x) gg += static_cast<double>(e.g[i]) * e.g[i];
    gg = block_sum(gg, shared);
    if (threadIdx.x == 0) partial_g[chunk] = gg;
  }
}

// scale = 1 / max(||G|| / max_norm, 1)
__global__ void clip_scale_kernel(float* scale, const double* partial_g, int64_t num_chunks, double max_norm) {
  __shared__ double shared[32];
  double acc = 0.0;
  for (int64_t k = threadIdx.x; k < num_chunks; k += blockDim.x) acc += partial_g[k];
  acc = block_sum(acc, shared);
  if (threadIdx.x == 0) *scale = static_cast<float>(1.0 / fmax(sqrt(acc) / max_norm, 1.0));
}

__global__ void sum3_kernel(double* out, const double* partial, int64_t num_chunks) {
  __shared__ double shared[32];
  double a = 0.0, b = 0.0, g = 0.0;
  for (int64_t k = threadIdx.x; k < num_chunks; k += blockDim.x) {
    a += partial[3 * k];
    b += partial[3 * k + 1];
    g += partial[3 * k + 2];
  }
  a = block_sum(a, shared);
  b = block_sum(b, shared);
  g = block_sum(g, shared);
  if (threadIdx.x == 0) {
    out[0] = a;
    out[1] = b;
    out[2] = g;
  }
}

__global__ void adam_update_kernel(float* w, const float* g, float* m, float* v, int64_t n, AdamCoeffs c, float decay,
                                   float step) {
  TG_GRID_STRIDE_LOOP(i, n) {
    float mi = m[i], vi = v[i];
    const float wi = w[i];
    const float u = adam_direction(wi, g[i], mi, vi, c);
    m[i] = mi;
    v[i] = vi;
    w[i] = decay * wi - step * u;
  }
}

unsigned chunk_grid(int64_t chunks) { return static_cast<unsigned>(std::max<int64_t>(1, std::min<int64_t>(chunks, kMaxGrid))); }

SingleTable single_table(float* w, const float* g, float* m, float* v, int64_t n, float decay, bool adapt) {
  return SingleTable{TensorEntry{w, g, m, v, n, 0.f, 1.f, decay, adapt ? 1 : 0, 0, (n + kChunk - 1) / kChunk}};
}

StepParams single_params(const AdamCoeffs& c, float lr, float clip_min, float clip_max) {
  return StepParams{c, lr, -1, clip_min, clip_max};
}

}  // namespace

DirectionNorms adam_direction_norms(const float* w, const float* g, const float* m, const float* v, int64_t n,
                                    const AdamCoeffs& c, bool /*parallel*/) {
  if (n <= 0) return DirectionNorms{};
  const SingleTable tab = single_table(const_cast<float*>(w), g, const_cast<float*>(m), const_cast<float*>(v), n, 1.f,
                                       true);
  const int64_t chunks = tab.e.nchunks;
  Scratch partial(static_cast<size_t>(3 * chunks) * sizeof(double)), sums(3 * sizeof(double));
  norms_kernel<<<chunk_grid(chunks), kLambBlock>>>(tab, chunks, single_params(c, 0.f, 0.f, 0.f), nullptr,
                                                   partial.get<double>());
  TG_CUDA_CHECK_LAUNCH();
  sum3_kernel<<<1, kLambBlock>>>(sums.get<double>(), partial.get<double>(), chunks);
  TG_CUDA_CHECK_LAUNCH();
  double host[3];
  TG_CUDA_CHECK(cudaMemcpy(host, sums.get(), sizeof(host), cudaMemcpyDeviceToHost));
  return DirectionNorms{host[0], host[1], host[2]};
}

void adam_update(float* w, const float* g, float* m, float* v, int64_t n, const AdamCoeffs& c, float decay,
                 float step, bool /*parallel*/) {
  if (n <= 0) return;
  adam_update_kernel<<<grid_for(n), kBlock>>>(w, g, m, v, n, c, decay, step);
  TG_CUDA_CHECK_LAUNCH();
}

void lamb_step(float* w, const float* g, float* m, float* v, int64_t n, const AdamCoeffs& c,
               const TrustRatioOptions& t, float* telemetry, const float* grad_scale) {
  if (n <= 0) return;
  const SingleTable tab = single_table(w, g, m, v, n, t.decay, t.adapt);
  const StepParams p = single_params(c, t.lr, t.clip_min, t.clip_max);
  const int64_t chunks = tab.e.nchunks;
  Scratch partial(static_cast<size_t>(3 * chunks) * sizeof(double));
  norms_kernel<<<chunk_grid(chunks), kLambBlock>>>(tab, chunks, p, grad_scale, partial.get<double>());
  TG_CUDA_CHECK_LAUNCH();
  update_kernel<<<chunk_grid(chunks), kLambBlock>>>(tab, chunks, p, grad_scale, partial.get<double>(), telemetry);
  TG_CUDA_CHECK_LAUNCH();
}

LambMultiTensorPlan::LambMultiTensorPlan(const std::vector<LambTensor>& tensors, int device) : device_(device) {
  std::vector<TensorEntry> entries;
  std::vector<int> chunk_tensor;
  for (const LambTensor& t : tensors) {
    const int64_t nchunks = (t.n + kChunk - 1) / kChunk;
    entries.push_back(TensorEntry{t.w, t.g, t.m, t.v, t.n, t.weight_decay, t.lr_mult, 1.f, t.adapt ? 1 : 0,
                                  static_cast<int64_t>(chunk_tensor.size()), nchunks});
    chunk_tensor.insert(chunk_tensor.end(), static_cast<size_t>(nchunks), static_cast<int>(entries.size() - 1));
  }
  num_tensors_ = static_cast<int64_t>(entries.size());
  num_chunks_ = static_cast<int64_t>(chunk_tensor.size());
  const size_t entry_bytes = entries.size() * sizeof(TensorEntry), chunk_bytes = chunk_tensor.size() * sizeof(int);
  try {
    entries_ = device_malloc(entry_bytes, device);
    chunk_tensor_ = static_cast<int*>(device_malloc(chunk_bytes, device));
    partial_ = static_cast<double*>(device_malloc(static_cast<size_t>(4 * num_chunks_) * sizeof(double), device));
    scale_ = static_cast<float*>(device_malloc(sizeof(float), device));
    copy_host_to_device(entries_, entries.data(), entry_bytes, device);
    copy_host_to_device(chunk_tensor_, chunk_tensor.data(), chunk_bytes, device);
  } catch (...) {  // out of memory, or a failed copy: no destructor runs, so give back what was taken
    device_free(entries_, device);
    device_free(chunk_tensor_, device);
    device_free(partial_, device);
    device_free(scale_, device);
    throw;
  }
}

LambMultiTensorPlan::~LambMultiTensorPlan() {
  device_free(entries_, device_);
  device_free(chunk_tensor_, device_);
  device_free(partial_, device_);
  device_free(scale_, device_);
}

void lamb_step_multi(const LambMultiTensorPlan& plan, const AdamCoeffs& c, const LambStepOptions& o,
                     float* telemetry) {
  const int64_t chunks = plan.num_chunks_;
  if (chunks == 0) return;
  const MultiTable tab{static_cast<const TensorEntry*>(plan.entries_), plan.chunk_tensor_};
  const StepParams p{c, o.lr, static_cast<int>(o.weight_decay_mode), o.clip_min, o.clip_max};
  const float* gscale = nullptr;
  if (o.max_grad_norm > 0.f) {
    double* partial_g = plan.partial_ + 3 * chunks;
    grad_sq_kernel<<<chunk_grid(chunks), kLambBlock>>>(tab, chunks, partial_g);
    TG_CUDA_CHECK_LAUNCH();
    clip_scale_kernel<<<1, kLambBlock>>>(plan.scale_, partial_g, chunks, o.max_grad_norm);
    TG_CUDA_CHECK_LAUNCH();
    gscale = plan.scale_;
  }
  norms_kernel<<<chunk_grid(chunks), kLambBlock>>>(tab, chunks, p, gscale, plan.partial_);
  TG_CUDA_CHECK_LAUNCH();
  update_kernel<<<chunk_grid(chunks), kLambBlock>>>(tab, chunks, p, gscale, plan.partial_, telemetry);
  TG_CUDA_CHECK_LAUNCH();
}

}  // namespace tg::cuda
