// The implementations connect_ranks() chooses between. Each is either compiled or replaced by
// a stub that says how to build it (dist/meson.build).
#pragma once

#include <memory>

#include "dist/communicator.h"

namespace sm {

// Over the launcher's ranks: MPI (dist/mpi.cpp), with NCCL for GPU buffers where the build
// has it (dist/nccl.cpp). In a build without MPI (dist/no_mpi.cpp) it throws, naming `mark`.
std::unique_ptr<Communicator> connect_mpi(const CommunicatorOptions& options, const std::string& mark);

}  // namespace sm
