// Command-line flags for the `siammae` subcommands: `--name value`, `--name=value`, and
// switches (`--resume`). Every flag is declared with a default and a line of help, so
// `siammae CMD --help` lists them all; an unknown flag or a malformed value is an error
// naming the flag.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "tensor/dtype.h"

namespace sm::cli {

class Flags {
 public:
  // Every command also takes --max-pixels (see max_image_pixels in data/image.h).
  static constexpr const char* kMaxPixels = "max-pixels";
  Flags(std::string command, std::string summary);

  // Declares a flag that takes a value; `fallback` is its default ("" = none).
  Flags& add(const std::string& name, const std::string& fallback, const std::string& help);
  // Declares a flag that must be given.
  Flags& add_required(const std::string& name, const std::string& help);
  // Declares a flag that takes `count` values: `--frames a.jpg b.jpg` (or `--frames a.jpg,b.jpg`);
  // read them with list().
  Flags& add_values(const std::string& name, int count, const std::string& help);
  // Declares a switch: false unless given.
  Flags& add_switch(const std::string& name, const std::string& help);

  // Reads argv[first..] (once); returns false when --help was asked for (the help is printed).
  // Throws "[command] ..." for an unknown flag, a missing value or a missing required flag.
  bool parse(int argc, char** argv, int first);

  std::string text(const std::string& name) const;
  int64_t integer(const std::string& name) const;
  double number(const std::string& name) const;
  bool on(const std::string& name) const;  // a switch
  Device device(const std::string& name) const;  // "cpu" or "cuda"
  bool given(const std::string& name) const;  // set on the command line (not by default)
  std::vector<std::string> list(const std::string& name) const;  // comma-separated values
  // Every flag with its effective value, for config.json.
  std::map<std::string, std::string> values() const;

  std::string help() const;
  const std::string& command() const { return command_; }

 private:
  struct Flag {
    std::string name, value, fallback, help;
    bool is_switch = false, is_required = false, given = false;
    int count = 1;  // values taken
  };
  const Flag& find(const std::string& name) const;
  Flag& find(const std::string& name);
  // The flag's text converted by `convert` (std::stoll, std::stod), which must use it all.
  template <typename T, typename Convert> T parse_value(const std::string& name, const char* what, Convert convert) const;

  std::string command_, summary_;
  std::vector<Flag> flags_;  // in declaration order, for the help text
};

}  // namespace sm::cli
