// TG_HOST_DEVICE: the one qualifier that lets a small inline function of scalars be shared by the
// CPU kernels and the CUDA kernels. Under nvcc (__CUDACC__) it compiles the function for both the
// host and the device (__host__ __device__, forced inline); under a plain C++ compiler the function
// is an ordinary inline function. Used by optimizer_math.h, elementwise_math.h and cuda/broadcast.h.
#pragma once

#if defined(__CUDACC__)
#define TG_HOST_DEVICE __host__ __device__ __forceinline__
#else
#define TG_HOST_DEVICE inline
#endif
