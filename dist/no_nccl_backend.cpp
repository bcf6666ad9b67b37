// Built instead of nccl_backend.cpp when the CUDA backend (and so NCCL) is not part of the build.
#include "dist/nccl_backend.h"

#include "engine/error.h"

namespace tg::dist {

bool nccl_built() { return false; }

std::unique_ptr<Backend> make_nccl_backend(Backend&, int) {
  throw Error("process group: a collective on a CUDA tensor needs NCCL, and this build has no CUDA backend "
              "(configure with -DTRUSTGRAD_CUDA=ON on a machine with the CUDA toolkit)");
}

}  // namespace tg::dist
