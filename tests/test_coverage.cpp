// The registry (tensor/ops.def) is the list of ops; this test fails when an op lacks a
// forward fixture, a gradient fixture or a gradcheck case, or a runner, or when it runs a
// kernel that a backend (the CPU's or the CUDA one) does not implement.
#include <doctest/doctest.h>

#include <map>
#include <set>

#include "tensor/backend.h"
#include "tensor/cuda/cuda_backend.h"
#include "tests/fixtures.h"
#include "tests/op_runner.h"

using namespace sm;
using namespace sm::test;

TEST_CASE("every registered op has forward, gradient and gradcheck tests") {
  const nlohmann::json fixtures = load_json("tests/reference/ops.json");
  std::set<std::string> forward, gradient, gradchecked;
  for (const auto& c : fixtures.at("cases")) {
    const std::string op = c.at("op");
    forward.insert(op);
    if (c.contains("grads")) gradient.insert(op);
    if (c.contains("grads") && c.at("gradcheck").get<bool>()) gradchecked.insert(op);
    CHECK_MESSAGE(find_op(op) != nullptr, "fixture case for unregistered op ", op);
  }
  const std::set<std::string> runnable = runnable_ops();
  for (const OpInfo& op : all_ops()) {
    CAPTURE(op.name);
    CHECK_MESSAGE(runnable.count(op.name), "no runner in tests/op_runner.cpp");
    CHECK_MESSAGE(forward.count(op.name), "no forward fixture in tests/reference/ops.json");
    if (op.differentiable) {
      CHECK_MESSAGE(gradient.count(op.name), "no gradient fixture");
      CHECK_MESSAGE(gradchecked.count(op.name), "no gradcheck case");
    } else {
      CHECK_MESSAGE(!gradient.count(op.name), "gradient fixture for an op registered as not differentiable");
    }
  }
}

namespace {

// Passes every kernel on to the CPU backend and writes down its name.
class RecordingBackend final : public Backend {
 public:
  explicit RecordingBackend(Backend& cpu) : cpu_(cpu) {}
  std::set<std::string> used;

  Device device() const override { return Device::CPU; }
  CachingAllocator& memory() override { return cpu_.memory(); }
  void copy_from_host(void* dst, const void* src, std::size_t n) override { cpu_.copy_from_host(dst, src, n); }
  void copy_to_host(void* dst, const void* src, std::size_t n) override { cpu_.copy_to_host(dst, src, n); }

  void fill(const Tensor& out, double value) override { record("fill").fill(out, value); }
  void copy(const Tensor& src, const Tensor& dst) override { record("copy").copy(src, dst); }
  void unary(UnaryOp op, const Tensor& x, const Tensor& out, double p0, double p1) override {
    record("unary").unary(op, x, out, p0, p1);
  }
  void binary(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out) override {
    record("binary").binary(op, a, b, out);
  }
  void where(const Tensor& c, const Tensor& a, const Tensor& b, const Tensor& out) override {
    record("where").where(c, a, b, out);
  }
  void reduce(ReduceOp op, const Tensor& x, int64_t n, int64_t inner, const Tensor& out, double correction) override {
    record("reduce").reduce(op, x, n, inner, out, correction);
  }
  void matmul(const Tensor& a, const Tensor& b, const Tensor& out, bool accumulate) override {
    record("matmul").matmul(a, b, out, accumulate);
  }
  void softmax(const Tensor& x, int64_t dim, bool log, const Tensor& out) override {
    record("softmax").softmax(x, dim, log, out);
  }
  void softmax_backward(const Tensor& y, const Tensor& gy, int64_t dim, bool log, const Tensor& gx) override {
    record("softmax_backward").softmax_backward(y, gy, dim, log, gx);
  }
  void layer_norm(const Tensor& x, const Tensor& w, const Tensor& b, double eps, const Tensor& out, const Tensor& mean,
                  const Tensor& rstd) override {
    record("layer_norm").layer_norm(x, w, b, eps, out, mean, rstd);
  }
  void layer_norm_backward(const Tensor& gy, const Tensor& x, const Tensor& w, const Tensor& mean, const Tensor& rstd,
                           const Tensor& gx, const Tensor& gw, const Tensor& gb) override {
    record("layer_norm_backward").layer_norm_backward(gy, x, w, mean, rstd, gx, gw, gb);
  }
  void rms_norm(const Tensor& x, const Tensor& w, double eps, const Tensor& out, const Tensor& rstd) override {
    record("rms_norm").rms_norm(x, w, eps, out, rstd);
  }
  void rms_norm_backward(const Tensor& gy, const Tensor& x, const Tensor& w, const Tensor& rstd,
                         const Tensor& gx) override {
    record("rms_norm_backward").rms_norm_backward(gy, x, w, rstd, gx);
  }
  void gather(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& out) override {
    record("gather").gather(x, dim, index, out);
  }
  void scatter_add(const Tensor& out, int64_t dim, const Tensor& index, const Tensor& src) override {
    record("scatter_add").scatter_add(out, dim, index, src);
  }
  void argsort(const Tensor& x, int64_t dim, bool descending, const Tensor& out) override {
    record("argsort").argsort(x, dim, descending, out);
  }
  void attention(const Tensor& q, const Tensor& k, const Tensor& v, double scale, const Tensor& out,
                 const Tensor& lse) override {
    record("attention").attention(q, k, v, scale, out, lse);
  }
  void attention_backward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& out, const Tensor& lse,
                          const Tensor& gout, double scale, const Tensor& gq, const Tensor& gk,
                          const Tensor& gv) override {
    record("attention_backward").attention_backward(q, k, v, out, lse, gout, scale, gq, gk, gv);
  }
  void adamw(const std::vector<Tensor>& p, const std::vector<Tensor>& g, const std::vector<Tensor>& m,
             const std::vector<Tensor>& v, const AdamWStep& step) override {
    record("adamw").adamw(p, g, m, v, step);
  }

 private:
  Backend& record(const char* kernel) {
    used.insert(kernel);
    return cpu_;
  }
  Backend& cpu_;
};

std::set<std::string> as_set(const std::vector<std::string>& names) { return {names.begin(), names.end()}; }

}  // namespace

// The kernels each op runs are seen by running it (forward and backward, on its fixture cases)
// through a recording CPU backend (so the CPU implements them); the kernels the CUDA backend
// implements are read from its class. Runs on any machine: the CUDA backend is read, not run.
TEST_CASE("the CUDA backend implements every kernel, and every op runs only kernels of the list") {
  const std::set<std::string> listed = as_set([] {
    std::vector<std::string> names;
#define SM_NAME(name) names.push_back(#name);
    SM_BACKEND_KERNELS(SM_NAME)
#undef SM_NAME
    return names;
  }());
  const std::set<std::string> cuda = as_set(implemented_kernels<cuda::CudaBackend>());
  for (const std::string& kernel : listed) {
    CAPTURE(kernel);
    CHECK_MESSAGE(cuda.count(kernel), "the CUDA backend (tensor/cuda) does not implement this kernel");
  }

  RecordingBackend recorder(backend_for(Device::CPU));
  CpuBackendOverride route(recorder);
  std::map<std::string, std::set<std::string>> kernels_of;  // op -> kernels its cases ran
  const nlohmann::json fixtures = load_json("tests/reference/ops.json");
  for (const auto& c : fixtures.at("cases")) {
    const std::string op = c.at("op");
    std::vector<Tensor> inputs;
    for (const auto& j : c.at("inputs")) {
      Tensor x = tensor_from_json(j, DType::F64);
      if (is_floating(x.dtype()) && c.contains("grads")) x.requires_grad_();
      inputs.push_back(x);
    }
    recorder.used.clear();
    Tensor out = run_op(op, inputs, c.at("attrs"));
    if (c.contains("grads")) out.backward(tensor_from_json(c.at("grad_output"), DType::F64));
    kernels_of[op].insert(recorder.used.begin(), recorder.used.end());
  }
  for (const OpInfo& op : all_ops()) {
    CAPTURE(op.name);
    for (const std::string& kernel : kernels_of[op.name]) {
      CAPTURE(kernel);
      CHECK_MESSAGE(listed.count(kernel), "the op runs a kernel missing from SM_BACKEND_KERNELS (tensor/backend.h)");
      CHECK_MESSAGE(cuda.count(kernel), "the op runs a kernel the CUDA backend does not implement");
    }
  }
  CHECK(kernels_of["matmul"].count("matmul"));  // the recording sees what runs
}
