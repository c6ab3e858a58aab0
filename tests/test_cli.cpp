// The `siammae` program as a user runs it: exit codes, one-line errors, help texts, and
// check-grads on the fixture the PyTorch twin wrote.
#include <doctest/doctest.h>

#include <array>
#include <cstdio>
#include <filesystem>

#include "nn/serialization.h"
#include "tests/fixtures.h"

using namespace sm;
using namespace sm::test;

namespace {

struct Run {
  int code;
  std::string output;  // stdout and stderr together
};

// Runs build/siammae with `args` (already shell-quoted where needed).
Run siammae(const std::string& args) {
  const std::string command = std::string(SM_SIAMMAE_BIN) + " " + args + " 2>&1";
  FILE* pipe = popen(command.c_str(), "r");
  REQUIRE(pipe != nullptr);
  std::string output;
  std::array<char, 4096> buffer;
  while (size_t n = fread(buffer.data(), 1, buffer.size(), pipe)) output.append(buffer.data(), n);
  const int status = pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, output};
}

std::string temp_path(const std::string& name) { return (std::filesystem::temp_directory_path() / name).string(); }

const std::string kReference = source_path("tests/reference/");

}  // namespace

TEST_CASE("siammae with no or an unknown command prints the usage and fails") {
  Run none = siammae("");
  CHECK(none.code == 2);
  CHECK(none.output.find("usage: siammae COMMAND") != std::string::npos);
  Run unknown = siammae("fly");
  CHECK(unknown.code == 2);
  CHECK(unknown.output.find("unknown command 'fly'") != std::string::npos);
  CHECK(siammae("--help").code == 0);
}

TEST_CASE("check-grads reproduces the PyTorch twin's loss and gradients") {
  const std::string out = temp_path("sm_check_grads.safetensors");
  Run run = siammae("check-grads --config micro --dtype f64 --weights " + kReference +
                    "siammae_micro_weights.safetensors --inputs " + kReference +
                    "siammae_micro_inputs.safetensors --out " + out);
  REQUIRE_MESSAGE(run.code == 0, run.output);
  CHECK(run.output.find("loss 2.2293191") != std::string::npos);
  const StateDict got = load_safetensors(out).tensors;
  const StateDict expected = load_safetensors(kReference + "siammae_micro_expected.safetensors").tensors;
  CHECK(closeness(got.at("loss"), expected.at("loss"), 1e-12, 0) <= 1.0);
  int grads = 0;
  for (const auto& [name, g] : got) {
    if (name.rfind("grad.", 0) != 0) continue;
    CAPTURE(name);
    CHECK(closeness(g, expected.at(name), 1e-9, 1e-12) <= 1.0);
    ++grads;
  }
  CHECK(grads == 80);
  std::filesystem::remove(out);
}

TEST_CASE("check-grads: every bad input is one line naming it, and a non-zero exit") {
  const std::string weights = kReference + "siammae_micro_weights.safetensors";
  const std::string inputs = kReference + "siammae_micro_inputs.safetensors";
  const std::string out = temp_path("sm_check_grads_bad.safetensors");
  auto fails_with = [](const Run& run, const std::string& text) {
    CAPTURE(run.output);
    CHECK(run.code == 1);
    CHECK(run.output.find(text) != std::string::npos);
    CHECK(std::count(run.output.begin(), run.output.end(), '\n') == 1);
  };
  fails_with(siammae("check-grads --config micro --weights " + weights + " --inputs " + inputs),
             "[check-grads] --out is required");
  fails_with(siammae("check-grads --config tiny --weights " + weights + " --inputs " + inputs + " --out " + out),
             "(loading " + weights + ")");
  fails_with(siammae("check-grads --config micro --weights " + weights + " --inputs " + weights + " --out " + out),
             "has no tensor 'f1'");
  fails_with(siammae("check-grads --config micro --weights /no/such.safetensors --inputs " + inputs + " --out " + out),
             "cannot open /no/such.safetensors");
  fails_with(siammae("check-grads --config huge --weights " + weights + " --inputs " + inputs + " --out " + out),
             "[config] unknown preset 'huge'");
  fails_with(siammae("check-grads --config micro --dtype f16 --weights " + weights + " --inputs " + inputs + " --out " + out),
             "--dtype must be f32 or f64");
  fails_with(siammae("check-grads --colour red"), "unknown flag --colour");
  CHECK_FALSE(std::filesystem::exists(out));
}
