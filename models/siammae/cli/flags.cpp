#include "models/siammae/cli/flags.h"

#include <algorithm>
#include <iostream>
#include <sstream>

#include "data/image.h"
#include "tensor/error.h"

namespace sm::cli {

Flags::Flags(std::string command, std::string summary) : command_(std::move(command)), summary_(std::move(summary)) {}

Flags& Flags::add(const std::string& name, const std::string& fallback, const std::string& help) {
  flags_.push_back({name, fallback, fallback, help});
  return *this;
}

Flags& Flags::add_required(const std::string& name, const std::string& help) {
  flags_.push_back({name, "", "", help, false, true});
  return *this;
}

Flags& Flags::add_values(const std::string& name, int count, const std::string& help) {
  Flag flag{name, "", "", help, false, true};
  flag.count = count;
  flags_.push_back(flag);
  return *this;
}

Flags& Flags::add_switch(const std::string& name, const std::string& help) {
  flags_.push_back({name, "false", "false", help, true});
  return *this;
}

const Flags::Flag& Flags::find(const std::string& name) const {
  auto it = std::find_if(flags_.begin(), flags_.end(), [&](const Flag& f) { return f.name == name; });
  check(it != flags_.end(), command_, "unknown flag --", name, " (see siammae ", command_, " --help)");
  return *it;
}

Flags::Flag& Flags::find(const std::string& name) {
  return const_cast<Flag&>(static_cast<const Flags&>(*this).find(name));
}

bool Flags::parse(int argc, char** argv, int first) {
  // Declared last, so the help lists it after the command's own flags.
  add(kMaxPixels, std::to_string(max_image_pixels()),
      "refuse image files that declare more pixels than this (a small file can claim gigapixels)");
  for (int i = first; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::cout << help();
      return false;
    }
    check(arg.starts_with("--") && arg.size() > 2, command_, "unexpected argument '", arg,
          "' (flags look like --name value; see siammae ", command_, " --help)");
    std::string name = arg.substr(2), value;
    const size_t eq = name.find('=');
    const bool inline_value = eq != std::string::npos;
    if (inline_value) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    }
    Flag& flag = find(name);
    if (flag.is_switch) {
      check(!inline_value, command_, "--", name, " is a switch and takes no value");
      value = "true";
    } else if (!inline_value) {
      check(i + 1 < argc, command_, "--", name, " needs a value");
      value = argv[++i];
      const bool comma_separated = value.find(',') != std::string::npos;
      for (int extra = 1; extra < flag.count && !comma_separated; ++extra) {
        check(i + 1 < argc && std::string(argv[i + 1]).rfind("--", 0) != 0, command_, "--", name, " needs ",
              flag.count, " values");
        value += std::string(",") + argv[++i];
      }
    }
    if (flag.count > 1)
      check(std::count(value.begin(), value.end(), ',') == flag.count - 1, command_, "--", name, " needs ", flag.count,
            " values, got '", value, "'");
    flag.value = value;
    flag.given = true;
  }
  for (const Flag& f : flags_)
    check(!f.is_required || f.given, command_, "--", f.name, " is required (see siammae ", command_, " --help)");
  if (given(kMaxPixels)) {
    const int64_t pixels = integer(kMaxPixels);
    check(pixels > 0, command_, "--", kMaxPixels, " must be positive, got ", pixels);
    set_max_image_pixels(pixels);
  }
  return true;
}

std::string Flags::text(const std::string& name) const { return find(name).value; }

template <typename T, typename Convert>
T Flags::parse_value(const std::string& name, const char* what, Convert convert) const {
  const std::string value = text(name);
  size_t used = 0;
  T result{};
  try {
    result = convert(value, &used);
  } catch (const std::exception&) {
    used = 0;  // std::stoll / std::stod throw on no digits or overflow
  }
  check(!value.empty() && used == value.size(), command_, "--", name, " expects ", what, ", got '", value, "'");
  return result;
}

int64_t Flags::integer(const std::string& name) const {
  return parse_value<int64_t>(name, "an integer", [](const std::string& v, size_t* used) { return std::stoll(v, used); });
}

double Flags::number(const std::string& name) const {
  return parse_value<double>(name, "a number", [](const std::string& v, size_t* used) { return std::stod(v, used); });
}

bool Flags::on(const std::string& name) const { return text(name) == "true"; }

Device Flags::device(const std::string& name) const {
  const std::string& value = text(name);
  check(value == "cpu" || value == "cuda", command_, "--", name, " must be cpu or cuda, got '", value, "'");
  return value == "cuda" ? Device::CUDA : Device::CPU;
}

bool Flags::given(const std::string& name) const { return find(name).given; }

std::vector<std::string> Flags::list(const std::string& name) const {
  std::vector<std::string> items;
  std::stringstream stream(text(name));
  for (std::string item; std::getline(stream, item, ',');)
    if (!item.empty()) items.push_back(item);
  return items;
}

std::map<std::string, std::string> Flags::values() const {
  std::map<std::string, std::string> out;
  for (const Flag& f : flags_) out[f.name] = f.value;
  return out;
}

std::string Flags::help() const {
  std::ostringstream out;
  out << "usage: siammae " << command_ << " [flags]\n\n" << summary_ << "\n\nflags:\n";
  size_t width = 0;
  for (const Flag& f : flags_) width = std::max(width, f.name.size() + (f.is_switch ? 0 : 6 * f.count));
  for (const Flag& f : flags_) {
    std::string left = "--" + f.name;
    for (int v = 0; v < (f.is_switch ? 0 : f.count); ++v) left += " VALUE";
    left.resize(width + 4, ' ');
    out << "  " << left << f.help;
    if (f.is_required) out << " (required)";
    if (!f.fallback.empty() && !f.is_switch) out << " (default: " + f.fallback + ")";
    out << "\n";
  }
  return out.str();
}

}  // namespace sm::cli
