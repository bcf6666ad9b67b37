// TG_CUDA_CHECK(expr): runs a CUDA runtime call and throws tg::Error with file:line, the call's text
// and cudaGetErrorString when it fails. Included only by the CUDA backend's own sources.
#pragma once
#include <cuda_runtime_api.h>

#include <sstream>

#include "engine/error.h"

namespace tg::cuda::detail {

[[noreturn]] inline void throw_cuda_error(cudaError_t err, const char* expr, const char* file, int line) {
  cudaGetLastError();  // clear a non-sticky error so the caller can recover and carry on
  std::ostringstream msg;
  msg << "CUDA error " << static_cast<int>(err) << " (" << cudaGetErrorName(err) << ": " << cudaGetErrorString(err)
      << ") in `" << expr << "` at " << file << ":" << line;
  throw ::tg::Error(msg.str());
}

}  // namespace tg::cuda::detail

#define TG_CUDA_CHECK(expr)                                                       \
  do {                                                                            \
    const cudaError_t tg_cuda_err_ = (expr);                                      \
    if (tg_cuda_err_ != cudaSuccess)                                              \
      ::tg::cuda::detail::throw_cuda_error(tg_cuda_err_, #expr, __FILE__, __LINE__); \
  } while (0)

// After a kernel launch: reports a bad launch configuration (asynchronous faults surface later,
// at the next synchronising call, through the same macro).
#define TG_CUDA_CHECK_LAUNCH() TG_CUDA_CHECK(cudaGetLastError())
