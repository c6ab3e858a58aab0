// Ranks over NCCL: GPU buffers are summed on the devices, on a stream of their own, and MPI
// hands out NCCL's id at the start and serves the host-side collectives. The communicator is
// non-blocking, so that every NCCL call is polled within the timeout like MPI's.
#include <cuda_runtime.h>
#include <nccl.h>

#include <climits>
#include <exception>

#include "dist/mpi_communicator.h"

namespace sm {

namespace {

class NcclCommunicator : public Communicator {
 public:
  explicit NcclCommunicator(std::unique_ptr<MpiCommunicator> mpi);
  ~NcclCommunicator() override;

  std::string name() const override;
  void all_reduce_sum(const Tensor& buffer, const std::string& what) override;
  bool same_on_all_ranks(uint64_t value, const std::string& what) override {
    return mpi_->same_on_all_ranks(value, what);
  }

 private:
  void check_cuda_call(cudaError_t error, const char* call) const;
  // Throws naming the call unless `result` is success (or, the communicator being
  // non-blocking, in progress).
  void check_nccl(ncclResult_t result, const char* call) const;
  // Polls until the calls issued so far have been taken (the state leaves "in progress") and
  // `done` holds, within the timeout.
  void wait_for_nccl(const std::string& what, const std::function<bool()>& done = [] { return true; });

  std::unique_ptr<MpiCommunicator> mpi_;
  int device_ = 0;
  ncclComm_t comm_ = nullptr;
  cudaStream_t stream_ = nullptr;
  cudaEvent_t buffer_ready_ = nullptr;
};

NcclCommunicator::NcclCommunicator(std::unique_ptr<MpiCommunicator> mpi)
    : Communicator(mpi->rank(), mpi->size(), mpi->local_size()), mpi_(std::move(mpi)) {
  int devices = 0;
  check_cuda_call(cudaGetDeviceCount(&devices), "cudaGetDeviceCount");
  // A GPU of its own for each rank of a machine: the one numbered like the rank, or the only
  // one this rank sees (a launcher that sets CUDA_VISIBLE_DEVICES per rank).
  check(devices >= local_size() || devices == 1, "dist", local_size(), " ranks on this machine but ", devices,
        " GPUs: NCCL needs a GPU of its own for each rank; start at most ", devices, " ranks per machine");
  device_ = devices == 1 ? 0 : mpi_->local_rank();
  // Before anything is allocated: the library works on the current device.
  check_cuda_call(cudaSetDevice(device_), "cudaSetDevice");

  ncclUniqueId id;
  if (rank() == 0) check_nccl(ncclGetUniqueId(&id), "ncclGetUniqueId");
  mpi_->broadcast(&id, sizeof id, "handing out the NCCL id");
  ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
  config.blocking = 0;
  check_nccl(ncclCommInitRankConfig(&comm_, size(), id, rank(), &config), "ncclCommInitRankConfig");
  wait_for_nccl("setting up NCCL");
  check_cuda_call(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "cudaStreamCreateWithFlags");
  check_cuda_call(cudaEventCreateWithFlags(&buffer_ready_, cudaEventDisableTiming), "cudaEventCreateWithFlags");
}

NcclCommunicator::~NcclCommunicator() {
  if (comm_ != nullptr) {
    if (std::uncaught_exceptions() > 0) {
      ncclCommAbort(comm_);  // the other ranks may never come: do not wait for them
    } else {
      // Let the other ranks' last operations finish before freeing, within the timeout.
      ncclCommFinalize(comm_);
      try {
        wait_for_nccl("closing NCCL");
      } catch (const std::exception&) {
      }
      ncclCommDestroy(comm_);
    }
  }
  if (buffer_ready_ != nullptr) cudaEventDestroy(buffer_ready_);
  if (stream_ != nullptr) cudaStreamDestroy(stream_);
}

std::string NcclCommunicator::name() const {
  int version = 0;
  ncclGetVersion(&version);  // 22809 for 2.28.9
  return "NCCL " + std::to_string(version / 10000) + "." + std::to_string(version / 100 % 100) + "." +
         std::to_string(version % 100) + " on GPU " + std::to_string(device_) + ", started by " + mpi_->name();
}

void NcclCommunicator::all_reduce_sum(const Tensor& buffer, const std::string& what) {
  check(buffer.device() == Device::CUDA && buffer.dtype() == DType::F32 && buffer.is_contiguous(), "dist",
        "NCCL's all_reduce_sum takes a contiguous float32 GPU buffer, got ", dtype_name(buffer.dtype()), " ",
        fmt(buffer.shape()), " on ", device_name(buffer.device()));
  // The library's kernels run on the legacy default stream: NCCL's stream waits for them.
  check_cuda_call(cudaEventRecord(buffer_ready_, cudaStreamLegacy), "cudaEventRecord");
  check_cuda_call(cudaStreamWaitEvent(stream_, buffer_ready_, 0), "cudaStreamWaitEvent");
  void* data = buffer.raw_data();
  check_nccl(ncclAllReduce(data, data, static_cast<size_t>(buffer.numel()), ncclFloat, ncclSum, comm_, stream_),
             "ncclAllReduce");
  // Done when NCCL's stream has run it; the kernels launched after this see the sums.
  wait_for_nccl(what, [&] {
    const cudaError_t state = cudaStreamQuery(stream_);
    if (state == cudaErrorNotReady) return false;
    check_cuda_call(state, "cudaStreamQuery");
    return true;
  });
}

void NcclCommunicator::wait_for_nccl(const std::string& what, const std::function<bool()>& done) {
  mpi_->wait_until(
      [&] {
        ncclResult_t state = ncclSuccess;
        check_nccl(ncclCommGetAsyncError(comm_, &state), "ncclCommGetAsyncError");
        if (state == ncclInProgress) return false;
        check_nccl(state, what.c_str());
        return done();
      },
      what, [&] { ncclCommAbort(comm_), comm_ = nullptr; });
}

void NcclCommunicator::check_cuda_call(cudaError_t error, const char* call) const {
  check(error == cudaSuccess, "dist", call, " failed on rank ", rank(), ": ", cudaGetErrorString(error));
}

void NcclCommunicator::check_nccl(ncclResult_t result, const char* call) const {
  if (result == ncclSuccess || result == ncclInProgress) return;
  const char* detail = comm_ != nullptr ? ncclGetLastError(comm_) : nullptr;
  fail("dist", call, " failed on rank ", rank(), ": ", ncclGetErrorString(result),
       detail != nullptr && *detail != '\0' ? std::string(" (") + detail + ")" : std::string());
}

}  // namespace

std::unique_ptr<Communicator> connect_nccl(std::unique_ptr<MpiCommunicator>& mpi, const CommunicatorOptions&) {
  return std::make_unique<NcclCommunicator>(std::move(mpi));
}

}  // namespace sm
