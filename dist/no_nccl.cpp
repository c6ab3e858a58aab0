// connect_nccl in a build without NCCL: GPU buffers are summed by MPI through host memory.
#include "dist/mpi_communicator.h"

namespace sm {

std::unique_ptr<Communicator> connect_nccl(std::unique_ptr<MpiCommunicator>&, const CommunicatorOptions&) {
  return nullptr;
}

}  // namespace sm
