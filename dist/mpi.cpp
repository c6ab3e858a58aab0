// Ranks over MPI: collectives are started non-blocking and polled, so that a wait for a rank
// that died or hangs ends at the timeout instead of never.
#include <atomic>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <sstream>
#include <thread>

#include "autograd/functions.h"
#include "dist/backends.h"
#include "dist/mpi_communicator.h"

namespace sm {

namespace {

// This process's place among the launcher's ranks.
struct MpiWorld {
  int rank = 0, size = 1, local_rank = 0, local_size = 1;
};

int g_rank = -1;  // for messages, once known
std::atomic<bool> g_leaving_through_error{false};

void finalize_at_exit() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized && !g_leaving_through_error) MPI_Finalize();
}

// MPI is initialized once per process, by the first communicator.
const MpiWorld& mpi_world() {
  static const MpiWorld world = [] {
    int initialized = 0;
    check_mpi(MPI_Initialized(&initialized), "MPI_Initialized");
    if (!initialized) {
      int provided = 0;
      // Only the training thread calls MPI; the loader's threads never do.
      check_mpi(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
      std::atexit(finalize_at_exit);
    }
    // Errors come back as return codes, which check_mpi turns into messages (MPI's default
    // handler would abort the job without saying which call failed).
    check_mpi(MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler");
    MpiWorld w;
    check_mpi(MPI_Comm_rank(MPI_COMM_WORLD, &w.rank), "MPI_Comm_rank");
    check_mpi(MPI_Comm_size(MPI_COMM_WORLD, &w.size), "MPI_Comm_size");
    g_rank = w.rank;
    // The ranks that share this machine's memory: they share its cores and GPUs too.
    MPI_Comm local;
    check_mpi(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, w.rank, MPI_INFO_NULL, &local),
              "MPI_Comm_split_type");
    check_mpi(MPI_Comm_rank(local, &w.local_rank), "MPI_Comm_rank");
    check_mpi(MPI_Comm_size(local, &w.local_size), "MPI_Comm_size");
    check_mpi(MPI_Comm_free(&local), "MPI_Comm_free");
    return w;
  }();
  return world;
}

// "Open MPI v4.1.4" from "Open MPI v4.1.4, package: Debian OpenMPI, ...".
std::string library_version() {
  char text[MPI_MAX_LIBRARY_VERSION_STRING];
  int length = 0;
  MPI_Get_library_version(text, &length);
  const std::string version(text, static_cast<size_t>(length));
  return version.substr(0, version.find_first_of(",\n"));
}

}  // namespace

void check_mpi(int rc, const char* call) {
  if (rc == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(rc, text, &length);
  fail("dist", call, " failed", g_rank >= 0 ? " on rank " + std::to_string(g_rank) : std::string(), ": ",
       std::string(text, static_cast<size_t>(length)));
}

MpiCommunicator::MpiCommunicator(const CommunicatorOptions& options)
    : Communicator(mpi_world().rank, mpi_world().size, mpi_world().local_size),
      options_(options),
      local_rank_(mpi_world().local_rank) {}

MpiCommunicator::~MpiCommunicator() {
  if (std::uncaught_exceptions() > 0) g_leaving_through_error = true;
}

std::string MpiCommunicator::name() const {
  return "MPI (" + library_version() + (options_.device == Device::CPU ? ")" : "; GPU buffers through host memory)");
}

void MpiCommunicator::all_reduce_sum(const Tensor& buffer, const std::string& what) {
  check(buffer.dtype() == DType::F32 && buffer.is_contiguous() && buffer.numel() <= INT_MAX, "dist",
        "all_reduce_sum takes a contiguous float32 buffer of at most 2^31 - 1 elements, got ",
        dtype_name(buffer.dtype()), " ", fmt(buffer.shape()));
  if (buffer.device() != Device::CPU) {
    const Tensor host = buffer.to(Device::CPU).contiguous();
    all_reduce_sum(host, what);
    copy_(buffer, host.to(buffer.device()));
    return;
  }
  MPI_Request request;
  check_mpi(MPI_Iallreduce(MPI_IN_PLACE, buffer.data<float>(), static_cast<int>(buffer.numel()), MPI_FLOAT, MPI_SUM,
                           MPI_COMM_WORLD, &request),
            "MPI_Iallreduce");
  wait(request, what);
}

bool MpiCommunicator::same_on_all_ranks(uint64_t value, const std::string& what) {
  // The largest value and the largest complement: both are this rank's only if all agree.
  uint64_t values[2] = {value, ~value};
  MPI_Request request;
  check_mpi(MPI_Iallreduce(MPI_IN_PLACE, values, 2, MPI_UINT64_T, MPI_MAX, MPI_COMM_WORLD, &request),
            "MPI_Iallreduce");
  wait(request, what);
  return values[0] == value && values[1] == ~value;
}

void MpiCommunicator::broadcast(void* data, int bytes, const std::string& what) {
  MPI_Request request;
  check_mpi(MPI_Ibcast(data, bytes, MPI_BYTE, 0, MPI_COMM_WORLD, &request), "MPI_Ibcast");
  wait(request, what);
}

void MpiCommunicator::wait(MPI_Request& request, const std::string& what) {
  wait_until(
      [&] {
        int done = 0;
        check_mpi(MPI_Test(&request, &done, MPI_STATUS_IGNORE), "MPI_Test");
        return done != 0;
      },
      what);
}

void MpiCommunicator::wait_until(const std::function<bool()>& done, const std::string& what,
                                 const std::function<void()>& on_timeout) {
  using Clock = std::chrono::steady_clock;
  const auto deadline =
      Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(options_.timeout_seconds));
  // Each poll also moves MPI's transfers on; yielding lets the loader's threads use the core.
  while (!done()) {
    if (Clock::now() > deadline) {
      if (on_timeout) on_timeout();
      std::ostringstream message;
      message << "[dist] rank " << rank() << " of " << size() << " waited " << options_.timeout_seconds
              << " s for the other ranks in " << what << ": one of them has died or hangs; ending the job";
      abort_job(message.str());
    }
    std::this_thread::yield();
  }
}

void MpiCommunicator::abort_job(const std::string& message) const {
  g_leaving_through_error = true;
  std::cout.flush();  // what this rank printed before (MPI_Abort ends it without flushing), then why
  std::fflush(stdout);
  std::cerr << message << std::endl;
  MPI_Abort(MPI_COMM_WORLD, 1);
  std::_Exit(1);  // MPI_Abort does not return; should it, this rank still ends
}

std::unique_ptr<Communicator> connect_mpi(const CommunicatorOptions& options, const std::string&) {
  auto mpi = std::make_unique<MpiCommunicator>(options);
  if (options.device != Device::CPU)
    if (std::unique_ptr<Communicator> nccl = connect_nccl(mpi, options)) return nccl;
  return mpi;
}

}  // namespace sm
