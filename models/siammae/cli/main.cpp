// siammae: the command-line front door (train, evaluate, look at a model, check gradients).
// Every error a user can cause is one line on stderr and a non-zero exit code.
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include "models/siammae/cli/commands.h"

namespace {

struct Command {
  const char* name;
  const char* summary;
  int (*run)(int argc, char** argv);
};

const std::vector<Command>& commands() {
  static const std::vector<Command> list{
      {"train", "pretrain SiamMAE on folders of video frames", sm::cli::train},
      {"reconstruct", "a picture of the model rebuilding a masked future frame", sm::cli::reconstruct},
      {"attention", "a picture of the decoder's cross-attention from future to past frame", sm::cli::attention},
      {"info", "what a checkpoint holds", sm::cli::info},
      {"propagate", "DAVIS video object segmentation by label propagation, scored (J&F)", sm::cli::propagate},
      {"eval-davis", "score any DAVIS results folder (J&F)", sm::cli::eval_davis},
      {"propagate-vip", "VIP human part propagation, scored (mIoU)", sm::cli::propagate_vip},
      {"propagate-jhmdb", "JHMDB pose propagation, scored (PCK)", sm::cli::propagate_jhmdb},
      {"report", "one self-contained HTML page of a run and its evaluations", sm::cli::report},
      {"check-grads", "loss and every gradient for given weights, frames and masks (to compare with a PyTorch twin)",
       sm::cli::check_grads},
  };
  return list;
}

void usage(std::ostream& out) {
  out << "usage: siammae COMMAND [flags]    (siammae COMMAND --help lists a command's flags)\n\ncommands:\n";
  for (const Command& c : commands()) out << "  " << c.name << std::string(16 - std::strlen(c.name), ' ') << c.summary << "\n";
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h") {
    usage(argc < 2 ? std::cerr : std::cout);
    return argc < 2 ? 2 : 0;
  }
  for (const Command& c : commands()) {
    if (argv[1] != std::string(c.name)) continue;
    try {
      return c.run(argc, argv);
    } catch (const std::exception& e) {  // sm::Error, and e.g. std::bad_alloc or filesystem errors
      std::cerr << "siammae " << c.name << ": " << e.what() << "\n";
      return 1;
    }
  }
  std::cerr << "siammae: unknown command '" << argv[1] << "'\n";
  usage(std::cerr);
  return 2;
}
