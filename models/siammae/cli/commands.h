// The `siammae` subcommands. Each reads its own flags from argv[2..] and returns the exit code.
#pragma once

namespace sm::cli {

int check_grads(int argc, char** argv);
int train(int argc, char** argv);
int info(int argc, char** argv);
int reconstruct(int argc, char** argv);
int attention(int argc, char** argv);
int propagate(int argc, char** argv);
int eval_davis(int argc, char** argv);
int propagate_vip(int argc, char** argv);
int propagate_jhmdb(int argc, char** argv);
int report(int argc, char** argv);

}  // namespace sm::cli
