// Built instead of mpi_backend.cpp when CMake found no MPI (TRUSTGRAD_MPI=OFF or AUTO without it).
#include "dist/backend.h"

namespace tg::dist {

std::unique_ptr<Backend> make_mpi_backend() { return nullptr; }
bool mpi_built() { return false; }

}  // namespace tg::dist
