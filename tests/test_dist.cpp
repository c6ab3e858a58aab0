// Data-parallel ranks: the collectives run by 1 and 2 real processes under Open MPI's mpirun,
// a rank that hangs or dies, and (with the siammae program) training on 2 ranks against 1.
// Exits with meson's "skipped" code 77 and a line saying why when the build has no MPI or the
// machine no mpirun.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <iostream>

#include "data/davis.h"
#include "models/siammae/checkpoint.h"
#include "tests/fixtures.h"

using namespace sm;
using namespace sm::test;

namespace {

// `program args` under mpirun with `ranks` processes. --oversubscribe: more ranks than cores
// (CI has 2); --allow-run-as-root: CI runs as root, which Open MPI refuses without it. `timeout`
// ends a run that would hang.
CommandResult mpirun(int ranks, const std::string& program_and_args, int limit_seconds = 120) {
  return run_command("timeout -k 5 " + std::to_string(limit_seconds) + " mpirun --oversubscribe" +
                     (geteuid() == 0 ? " --allow-run-as-root" : "") + " -np " + std::to_string(ranks) + " " +
                     program_and_args);
}

size_t count(const std::string& text, const std::string& part) {
  size_t n = 0;
  for (size_t at = text.find(part); at != std::string::npos; at = text.find(part, at + 1)) ++n;
  return n;
}

const std::string kRanks = SM_DIST_RANKS_BIN, kSiammae = SM_SIAMMAE_BIN;

// The loss column of a run's log.csv, as written.
std::vector<std::string> logged_losses(const std::string& run) {
  std::ifstream in(run + "/log.csv");
  std::string line;
  std::getline(in, line);
  std::vector<std::string> losses;
  while (std::getline(in, line)) {
    const size_t a = line.find(','), b = line.find(',', a + 1), c = line.find(',', b + 1);
    losses.push_back(line.substr(b + 1, c - b - 1));
  }
  return losses;
}

// The model's tensors in a run's checkpoint.
StateDict trained(const std::string& run) { return read_checkpoint(run + "/checkpoint.safetensors").model; }

// sqrt(sum over every element of (a - b)^2), in double.
double distance(const StateDict& a, const StateDict& b) {
  double sum = 0;
  for (const auto& [name, tensor] : a) {
    const std::vector<double> x = tensor.to_vector<double>(), y = b.at(name).to_vector<double>();
    for (size_t i = 0; i < x.size(); ++i) sum += (x[i] - y[i]) * (x[i] - y[i]);
  }
  return std::sqrt(sum);
}

// Steps of the micro model on small synthetic videos, one thread per rank (the thread count
// may change float32 sums), with the gradient clipped to a norm it exceeds (the norm of the
// ranks' mean gradient: the global batch's), and a checkpoint every 3 steps.
struct TrainingRuns {
  TempDir dir{"sm-dist-train"};
  std::string data;
  TrainingRuns() {
    write_synthetic_davis(dir / "videos", {.sequences = 3, .frames = 10, .height = 48, .width = 64, .objects = 2, .seed = 5});
    data = dir / "videos/JPEGImages/480p";
  }
  std::string train(const std::string& run, int64_t steps, const std::string& flags) const {
    return kSiammae + " train --config micro --data " + data + " --steps " + std::to_string(steps) +
           " --eval-every 3 --blr 0.01 --warmup 0 --seed 3 --gap-min 2 --gap-max 4 --clip-grad 0.2 --threads 1 "
           "--workers 1 --out " + (dir / run) + " " + flags;
  }
  std::string resume(const std::string& run, const std::string& flags = "") const {
    return kSiammae + " train --resume --out " + (dir / run) + " " + flags;
  }
};

}  // namespace

TEST_CASE("collectives: one process alone, without a launcher") {
  const CommandResult run = run_command(kRanks + " collectives");
  CAPTURE(run.output);
  CHECK(run.code == 0);
  CHECK(run.output.find("rank 0 of 1: collectives ok (single process)") != std::string::npos);
}

TEST_CASE("collectives: 1 and 2 ranks under mpirun give exact sums, means and agreement checks") {
  for (int ranks : {1, 2}) {
    const CommandResult run = mpirun(ranks, kRanks + " collectives");
    CAPTURE(run.output);
    CHECK(run.code == 0);
    CHECK(count(run.output, " of " + std::to_string(ranks) + ": collectives ok (MPI (Open MPI") == size_t(ranks));
  }
}

TEST_CASE("a rank that hangs ends the job at the timeout, with a line saying so") {
  const auto start = std::chrono::steady_clock::now();
  const CommandResult run = mpirun(2, kRanks + " hang 1 2");
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  CAPTURE(run.output);
  CHECK(run.code != 0);
  CHECK(run.code != 124);  // ended by the timeout of the ranks, not by the test's
  CHECK(run.output.find("[dist] rank 0 of 2 waited 2 s for the other ranks in the test's all-reduce: one of them "
                        "has died or hangs; ending the job") != std::string::npos);
  CHECK(seconds < 60);
}

TEST_CASE("a rank that dies ends the job: the launcher names it, nobody hangs") {
  const CommandResult run = mpirun(2, kRanks + " die 1", 60);
  CAPTURE(run.output);
  CHECK(run.code != 0);
  CHECK(run.code != 124);
  CHECK(run.output.find("rank 1") != std::string::npos);
  CHECK(run.output.find("signal 9") != std::string::npos);
  CHECK(run.output.find("collectives ok") == std::string::npos);
}

TEST_CASE("training: 2 ranks x batch 4 follow 1 rank x batch 8 within float32 rounding; 1 rank under mpirun is exact") {
  const TrainingRuns runs;
  const CommandResult one = run_command(runs.train("one", 6, "--batch 8"));
  REQUIRE_MESSAGE(one.code == 0, one.output);
  const CommandResult two = mpirun(2, runs.train("two", 6, "--batch 4"));
  REQUIRE_MESSAGE(two.code == 0, two.output);  // it also compared the ranks' parameters at steps 0, 3 and 6
  CHECK(two.output.find("2 ranks (MPI (Open MPI") != std::string::npos);
  CHECK(two.output.find("8 pairs per step, lr = blr x 2 ranks x batch 4 / 256 = 0.0003125") != std::string::npos);
  CHECK(count(two.output, "training micro") == 1);  // rank 0 alone reports,
  CHECK(two.output.find('\r') == std::string::npos);  // in plain lines (a launcher's pseudo-terminal is no terminal)

  // The loss of a step: the float32 mean over the 8 pairs' masked patches. Its sums run in
  // double, but 2 ranks round it twice more (each rank's mean of 4 pairs to float32, then their
  // float32 sum; halving is exact), and their GEMMs see 4 rows instead of 8, which may round a
  // product differently. Bound: 30 u relative (u = 2^-24; 1.8e-6). Measured: 1.1e-7 at most
  // over the 6 steps (4 ranks x batch 2: the same); rank r taking the masks of rows
  // r B .. r B + B - 1 instead of r, r + 2, ...: 2.7e-3.
  const std::vector<std::string> losses_one = logged_losses(runs.dir / "one"), losses_two = logged_losses(runs.dir / "two");
  REQUIRE(losses_one.size() == 6);
  REQUIRE(losses_two.size() == 6);
  const double tolerance = 30 * std::ldexp(1.0, -24);
  double worst = 0;
  for (size_t k = 0; k < 6; ++k) {
    CAPTURE(k);
    const double relative = std::abs(std::stod(losses_two[k]) - std::stod(losses_one[k])) / std::stod(losses_one[k]);
    CHECK(relative <= tolerance);
    worst = std::max(worst, relative);
  }

  // Parameters after the 6 AdamW steps, against the change the steps made. AdamW's step
  // lr m / (sqrt(v) + eps) ignores a gradient's scale, so a rounding difference in a gradient
  // near zero can move its element by up to lr per step: the parameters keep a trace of the
  // rounding the losses do not show. Bound: 1e-2 of the change. Measured: 6.1e-5 (96 % of
  // the elements bit-identical, none apart by more than 0.012 lr; 4 ranks x batch 2: 1.0e-4);
  // the masks of the wrong rows: 0.22. (The clipping is active: 1 rank without it ends 1.7e-2
  // away.)
  const CommandResult still = run_command(runs.train("init", 6, "--batch 8 --blr 1e-30"));  // lr ~ 1e-33: the initial weights
  REQUIRE_MESSAGE(still.code == 0, still.output);
  const StateDict init = trained(runs.dir / "init"), after_one = trained(runs.dir / "one");
  const double change = distance(after_one, init), difference = distance(trained(runs.dir / "two"), after_one);
  MESSAGE("2 ranks x 4 against 1 rank x 8: losses differ by ", worst, " at most, parameters by ", difference / change,
          " of the change");
  CHECK(change > 0.05);
  CHECK(difference <= 1e-2 * change);

  // One rank under the launcher takes the single process's path: the same bits.
  const CommandResult alone = mpirun(1, runs.train("alone", 6, "--batch 8"));
  REQUIRE_MESSAGE(alone.code == 0, alone.output);
  CHECK(logged_losses(runs.dir / "alone") == losses_one);
  CHECK(distance(trained(runs.dir / "alone"), after_one) == 0);
}

TEST_CASE("training: 2 ranks stopped and resumed log the same losses as 2 ranks straight") {
  const TrainingRuns runs;
  const CommandResult straight = mpirun(2, runs.train("straight", 6, "--batch 4"));
  REQUIRE_MESSAGE(straight.code == 0, straight.output);
  const CommandResult first = mpirun(2, runs.train("resumed", 6, "--batch 4 --stop-after 4"));
  REQUIRE_MESSAGE(first.code == 0, first.output);
  CHECK(first.output.find("stopped at step 4 of 6") != std::string::npos);
  CHECK(logged_losses(runs.dir / "resumed").size() == 4);
  const CommandResult rest = mpirun(2, runs.resume("resumed"));
  REQUIRE_MESSAGE(rest.code == 0, rest.output);
  CHECK(logged_losses(runs.dir / "resumed") == logged_losses(runs.dir / "straight"));
  CHECK(distance(trained(runs.dir / "resumed"), trained(runs.dir / "straight")) == 0);

  // Going on with another number of ranks is allowed, and said.
  const CommandResult alone = run_command(runs.resume("resumed", "--steps 7"));
  CHECK_MESSAGE(alone.code == 0, alone.output);
  CHECK(alone.output.find("note: the run went on 2 rank(s) and goes on with 1: each step now takes 4 pairs") !=
        std::string::npos);
}

TEST_CASE("training: a rank killed, hung or signalled ends the job; every rank resumes from rank 0's checkpoint") {
  const TrainingRuns runs;
  // A constant learning rate (--min-lr = lr): runs of any length take the same steps, so a run
  // that would go on for 100000 steps, cut short, resumes to the 30 steps of the straight one.
  // The signal then always lands while the run is going on, however fast the machine.
  const std::string constant_lr = "--batch 4 --min-lr 0.0003125";
  const int64_t kSteps = 30, kEndless = 100000;
  const CommandResult straight = mpirun(2, runs.train("straight", kSteps, constant_lr));
  REQUIRE_MESSAGE(straight.code == 0, straight.output);
  // Rank 1 gets `signal` once rank 0 has written its first checkpoint (step 3); a rank stopped
  // (SIGSTOP) gets going again 15 s later, as a rank that hung for a while would, so that it
  // never outlives its job. The watcher gives up after 60 s, should the run fail before, and
  // leaves the rank's output alone (the launcher waits for whoever holds it).
  auto with_rank_1 = [&](const std::string& signal, const std::string& run, const std::string& flags) {
    const std::string checkpoint = runs.dir / (run + "/checkpoint.safetensors");
    const std::string then = signal == "STOP" ? "; sleep 15; kill -CONT $$" : "";
    return "sh -c 'if [ \"$OMPI_COMM_WORLD_RANK\" = 1 ]; then (i=0; while [ ! -f " + checkpoint +
           " ] && [ $i -lt 6000 ]; do sleep 0.01; i=$((i + 1)); done; kill -" + signal + " $$" + then +
           ") > /dev/null 2>&1 & fi; exec " + runs.train(run, kEndless, flags) + "'";
  };

  const CommandResult died = mpirun(2, with_rank_1("KILL", "died", constant_lr), 60);
  CAPTURE(died.output);
  CHECK(died.code != 0);
  CHECK(died.code != 124);  // ended by the launcher, not by the test's limit
  CHECK(died.output.find("rank 1") != std::string::npos);
  CHECK(died.output.find("signal 9") != std::string::npos);

  const CommandResult hung = mpirun(2, with_rank_1("STOP", "hung", constant_lr + " --dist-timeout 5"), 60);
  CAPTURE(hung.output);
  CHECK(hung.code != 0);
  CHECK(hung.code != 124);
  CHECK(hung.output.find("[dist] rank 0 of 2 waited 5 s for the other ranks in ") != std::string::npos);
  CHECK(hung.output.find(": one of them has died or hangs; ending the job") != std::string::npos);

  // SIGTERM to rank 1 alone: the step's all-reduce tells rank 0, both stop after the same step
  // and rank 0 saves it.
  const CommandResult signalled = mpirun(2, with_rank_1("TERM", "signalled", constant_lr), 60);
  CAPTURE(signalled.output);
  CHECK(signalled.code == 128 + 15);  // rank 1's exit code, as for one process stopped by SIGTERM
  const std::string stopped = "stopped by a signal to another rank at step ";
  const size_t at = signalled.output.find(stopped);
  REQUIRE(at != std::string::npos);
  const int64_t stop_step = std::stoll(signalled.output.substr(at + stopped.size()));
  CHECK(signalled.output.find(stopped + std::to_string(stop_step) + " of " + std::to_string(kEndless)) !=
        std::string::npos);
  CHECK(read_checkpoint(runs.dir / "signalled/checkpoint.safetensors").step == stop_step);
  CHECK(logged_losses(runs.dir / "signalled").size() == static_cast<size_t>(stop_step));

  // The runs end as if nothing had happened.
  for (const char* run : {"died", "hung", "signalled"}) {
    CAPTURE(run);
    const CommandResult resumed = mpirun(2, runs.resume(run, "--steps " + std::to_string(kSteps)));
    CHECK_MESSAGE(resumed.code == 0, resumed.output);
    CHECK(logged_losses(runs.dir / run) == logged_losses(runs.dir / "straight"));
  }
}

int main(int argc, char** argv) {
  if (!SM_BUILT_WITH_MPI) {
    std::cout << "skipped: this build has no MPI (-Dmpi=disabled, or no Open MPI found): apt-get install "
                 "libopenmpi-dev openmpi-bin, then meson setup --reconfigure -Dmpi=enabled build\n";
    return 77;
  }
  if (std::system("command -v mpirun > /dev/null") != 0) {
    std::cout << "skipped: no mpirun on the PATH (Debian's openmpi-bin); the data-parallel tests run under it\n";
    return 77;
  }
  doctest::Context context(argc, argv);
  return context.run();
}
