// connect_mpi in a build without MPI: a launcher started this program, which cannot join it.
#include "dist/backends.h"

namespace sm {

std::unique_ptr<Communicator> connect_mpi(const CommunicatorOptions&, const std::string& mark) {
  fail("dist", "started by an MPI launcher (", mark,
       "), but this program was built without MPI: install Open MPI (apt-get install libopenmpi-dev openmpi-bin) "
       "and rebuild (meson setup --reconfigure -Dmpi=enabled build && ninja -C build)");
}

}  // namespace sm
