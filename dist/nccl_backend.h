// NCCL backend for CUDA tensors (opt-in, TRUSTGRAD_WITH_NCCL): one communicator over the same
// ranks as the CPU backend, its unique id broadcast through it; each rank drives device
// `local_rank` (one rank per GPU). Collectives run on a dedicated stream; a request completes
// when its event has.
#pragma once
#include <memory>

#include "dist/backend.h"

namespace tg::dist {

// Builds the NCCL communicator, bootstrapped over `cpu` (collective over all ranks). Throws
// tg::Error when NCCL is not built or fails.
std::unique_ptr<Backend> make_nccl_backend(Backend& cpu, int device_index);

}  // namespace tg::dist
