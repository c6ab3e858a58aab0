// The ranks' side of test_dist: started under mpirun (or alone, as the single process), each
// rank checks the collectives against what it can compute itself, and says so in one line.
//   dist_ranks collectives             every collective, with exact expected values
//   dist_ranks hang RANK TIMEOUT       rank RANK stops itself before an all-reduce
//   dist_ranks die RANK                rank RANK is killed before an all-reduce
#include <cmath>
#include <csignal>
#include <iostream>
#include <string>

#include "autograd/autograd.h"
#include "dist/communicator.h"
#include "dist/gradients.h"

using namespace sm;

namespace {

void expect(bool condition, const std::string& what) { check(condition, "dist_ranks", "wrong: ", what); }

void check_collectives(Communicator& comm) {
  const int r = comm.rank(), n = comm.size();

  // Sums of small integers are exact in float32, whatever the order.
  Tensor buffer = arange(0, 1000) + 1000.0 * r;  // (1000)
  comm.all_reduce_sum(buffer, "the test's all-reduce");
  const std::vector<float> sums = buffer.to_vector<float>();
  for (int i = 0; i < 1000; ++i) expect(sums[i] == 1000.0f * n * (n - 1) / 2 + static_cast<float>(n * i), "a sum");

  expect(comm.same_on_all_ranks(42, "test"), "42 is the same everywhere");
  expect(comm.same_on_all_ranks(r, "test") == (n == 1), "the ranks' numbers differ");
  expect(comm.same_on_all_ranks(r == n - 1 ? 7 : 8, "test") == (n == 1), "one rank's value differs");

  // Gradients: rank r holds r + 1 everywhere; the mean over the ranks is (n + 1) / 2.
  Tensor a = zeros({2, 3}, {.requires_grad = true}), b = zeros({4}, {.requires_grad = true});
  Tensor unused = zeros({5}, {.requires_grad = true});
  a.set_grad(full({2, 3}, r + 1.0));
  b.set_grad(arange(0, 4) * (r + 1.0));
  const Tensor b_grad_before = b.grad();
  GradientAverager averager(comm, {a, unused, b});
  expect(averager.gradient_elements() == 15, "15 gradient elements");
  const std::vector<double> means = averager.average({r + 0.5, r == n - 1 ? 1.0 : 0.0}, "the test's gradients");
  const double mean = (n + 1) / 2.0;
  for (float v : a.grad().to_vector<float>()) expect(v == mean, "a's gradient is the mean");
  const std::vector<float> bg = b.grad().to_vector<float>();
  for (int i = 0; i < 4; ++i) expect(bg[i] == static_cast<float>(i * mean), "b's gradient is the mean");
  expect(!unused.grad().defined(), "a parameter without a gradient keeps none");
  expect(means.size() == 2 && means[0] == (n - 1) / 2.0 + 0.5 && means[1] == 1.0 / n, "the scalars' means");
  expect(n > 1 || b.grad().same(b_grad_before), "one rank leaves the gradients as they were");

  // Fingerprints: equal values, equal fingerprints; one changed bit, another one.
  expect(comm.same_on_all_ranks(fingerprint({a, b}), "test"), "equal parameters, equal fingerprints");
  Tensor c = ones({3});
  if (r == n - 1) copy_(c, from_vector(std::vector<float>{1, 1, std::nextafter(1.0f, 2.0f)}));
  expect(comm.same_on_all_ranks(fingerprint({c}), "test") == (n == 1), "one differing float changes it");
  const std::vector<std::string> frames = {"clip/00000.jpg", r == n - 1 ? "clip/00001.jpg" : "clip/00002.jpg"};
  expect(comm.same_on_all_ranks(fingerprint(std::vector<std::string>{"clip/00000.jpg"}), "test"),
         "equal texts, equal fingerprints");
  expect(comm.same_on_all_ranks(fingerprint(frames), "test") == (n == 1), "one differing text changes it");
  expect(fingerprint(std::vector<std::string>{"ab", "c"}) != fingerprint(std::vector<std::string>{"a", "bc"}),
         "where the texts split counts");
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  try {
    const double timeout = mode == "hang" && argc > 3 ? std::stod(argv[3]) : 60;
    std::unique_ptr<Communicator> comm = connect_ranks({.timeout_seconds = timeout});
    const int victim = argc > 2 ? std::stoi(argv[2]) : -1;
    if (mode == "collectives") {
      check_collectives(*comm);
    } else if (mode == "hang" || mode == "die") {
      if (comm->rank() == victim) std::raise(mode == "hang" ? SIGSTOP : SIGKILL);
      Tensor buffer = ones({10});
      comm->all_reduce_sum(buffer, "the test's all-reduce");
    } else {
      std::cerr << "usage: dist_ranks collectives | hang RANK TIMEOUT | die RANK\n";
      return 2;
    }
    std::cout << "rank " << comm->rank() << " of " << comm->size() << ": " << mode << " ok (" << comm->name()
              << ")" << std::endl;
    return 0;
  } catch (const std::exception& e) {
    std::cerr << e.what() << std::endl;
    return 1;
  }
}
