// Data-parallel ranks: the collectives run by 1 and 2 real processes under Open MPI's mpirun,
// a rank that hangs or dies, and (with the siammae program) training on 2 ranks against 1.
// Exits with meson's "skipped" code 77 and a line saying why when the build has no MPI or the
// machine no mpirun.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <iostream>

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

const std::string kRanks = SM_DIST_RANKS_BIN;

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
