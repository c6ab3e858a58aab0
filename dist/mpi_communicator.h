// The MPI communicator, seen only by the files built with MPI (dist/mpi.cpp, dist/nccl.cpp,
// dist/no_nccl.cpp).
#pragma once

#include <mpi.h>

#include <functional>
#include <memory>

#include "dist/communicator.h"

namespace sm {

class MpiCommunicator : public Communicator {
 public:
  // Initializes MPI (once per process; it is finalized at exit unless this rank is leaving
  // through an error, see ~MpiCommunicator) and finds this rank among the launcher's.
  explicit MpiCommunicator(const CommunicatorOptions& options);
  // During stack unwinding (an error on this rank) MPI is left unfinalized: finalizing waits
  // for ranks that may be blocked in a collective, while a rank that exits without finalizing
  // makes the launcher end them all.
  ~MpiCommunicator() override;

  std::string name() const override;
  // CPU buffers are summed in place; GPU buffers through a copy in host memory.
  void all_reduce_sum(const Tensor& buffer, const std::string& what) override;
  bool same_on_all_ranks(uint64_t value, const std::string& what) override;

  int local_rank() const { return local_rank_; }  // among the ranks of this machine
  double timeout_seconds() const { return options_.timeout_seconds; }
  // Rank 0's `bytes` bytes at `data`, copied to every rank.
  void broadcast(void* data, int bytes, const std::string& what);
  // Polls `done` until it returns true. Past the timeout, ends the job, naming `what`, after
  // calling `on_timeout` (which may release what the wait was for, e.g. abort NCCL).
  void wait_until(const std::function<bool()>& done, const std::string& what,
                  const std::function<void()>& on_timeout = {});
  // Prints `message` on this rank and ends every rank of the job (MPI_Abort, exit code 1).
  [[noreturn]] void abort_job(const std::string& message) const;

 private:
  void wait(MPI_Request& request, const std::string& what);  // MPI_Wait within the timeout
  CommunicatorOptions options_;
  int local_rank_ = 0;
};

// Throws "[dist] CALL failed on rank R: <MPI's text>" unless rc is MPI_SUCCESS.
void check_mpi(int rc, const char* call);

// NCCL over the ranks of `mpi`, which then serves it for the host-side collectives; null in a
// build without NCCL (dist/no_nccl.cpp), leaving `mpi` as it was.
std::unique_ptr<Communicator> connect_nccl(std::unique_ptr<MpiCommunicator>& mpi, const CommunicatorOptions& options);

}  // namespace sm
