// Communicator: the processes ("ranks") of one data-parallel run and the collectives they use.
//
// A program started by a launcher (`mpirun -np N siammae train ...`) finds its N - 1 peers
// through MPI; started without one it is the only rank, MPI is never initialized and every
// collective returns at once. Which implementations exist is decided by which files are
// compiled (dist/meson.build), as for the tensor backends:
//   single process   always                       dist/communicator.cpp
//   MPI              when Open MPI is found        dist/mpi.cpp      (stub: dist/no_mpi.cpp)
//   NCCL             CUDA builds that find NCCL    dist/nccl.cpp     (stub: dist/no_nccl.cpp)
// On the GPU, NCCL sums the buffers on the device and MPI only hands out NCCL's id; without
// NCCL, MPI sums GPU buffers through host memory.
//
// A collective every rank must join waits at most `timeout_seconds` for the others: a rank
// that died or hangs ends the whole job with one line naming the wait, instead of a hang.
// An MPI error is thrown as sm::Error with MPI's own text. A rank whose program ends through
// an error exits without finalizing MPI, which makes the launcher end the other ranks.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "tensor/tensor.h"

namespace sm {

struct CommunicatorOptions {
  Device device = Device::CPU;  // where the buffers handed to all_reduce_sum live
  double timeout_seconds = 600;  // the longest a collective waits for the other ranks
};

class Communicator {
 public:
  virtual ~Communicator() = default;
  int rank() const { return rank_; }    // 0 .. size() - 1; rank 0 writes the run's files
  int size() const { return size_; }    // the number of ranks
  int local_size() const { return local_size_; }  // ranks on this machine (they share its cores and GPUs)
  bool is_main() const { return rank_ == 0; }
  // "single process", "MPI", "MPI (GPU buffers through host memory)", "NCCL (bootstrapped by MPI)".
  virtual std::string name() const = 0;

  // Sums `buffer` over the ranks, in place: a contiguous float32 tensor on the device given in
  // the options, of the same size on every rank. Every rank receives the same bits. `what`
  // names the collective in the timeout message ("the gradients of step 12").
  virtual void all_reduce_sum(const Tensor& buffer, const std::string& what) = 0;
  // Whether `value` is the same on every rank.
  virtual bool same_on_all_ranks(uint64_t value, const std::string& what) = 0;

 protected:
  Communicator(int rank, int size, int local_size) : rank_(rank), size_(size), local_size_(local_size) {}

 private:
  int rank_, size_, local_size_;
};

// The variable by which a launcher (mpirun, or srun with PMI/PMIx) marked this process as one
// of its ranks, as "NAME=value"; empty when the process was started without one.
std::string launcher_mark();

// The communicator of this process: over the launcher's ranks, or the single process. Throws
// when launched by a launcher in a build without MPI, naming what to install.
std::unique_ptr<Communicator> connect_ranks(const CommunicatorOptions& options);

}  // namespace sm
