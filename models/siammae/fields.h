// Settings described once, as a table of fields.
//
// TrainOptions and SiamMAEConfig list their settings in one table each: the JSON key, the
// `siammae train` flag (if any), a line of help and the values allowed. Their JSON form
// (config.json, checkpoint metadata), reading it back, the flags with their help and
// defaults, and the range checks all walk that table, so a new setting is one struct member
// and one row:
//
//   table.add("batch", &TrainOptions::batch, "batch", "frame pairs per step", kPositive);
//
// Settings are int64_t, uint64_t, double, bool, std::string, std::vector<std::string>
// (comma-separated on the command line), an enum with to_string(E) and from_text(text, E&)
// found next to it, or a struct with its own to_json/from_json (given no flag).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdint>
#include <fstream>
#include <functional>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

#include "tensor/error.h"

namespace sm {

// The values a setting may take: numbers within [low, high] (either end may be open), strings
// one of `choices` (when given). Floating-point settings must also be finite.
struct Allowed {
  double low = -std::numeric_limits<double>::infinity();
  double high = std::numeric_limits<double>::infinity();
  bool low_open = false, high_open = false;
  std::vector<std::string> choices;
};
// [low, high], or with `ends` "[)", "(]", "()" the ends marked open.
inline Allowed interval(double low, double high, const std::string& ends = "[]") {
  Allowed a;
  a.low = low, a.high = high, a.low_open = ends[0] == '(', a.high_open = ends[1] == ')';
  return a;
}
inline Allowed at_least(double low) { return interval(low, std::numeric_limits<double>::infinity()); }
inline Allowed one_of(std::vector<std::string> choices) {
  Allowed a;
  a.choices = std::move(choices);
  return a;
}
inline const Allowed kPositive = interval(0, std::numeric_limits<double>::infinity(), "()");
inline const Allowed kNonNegative = at_least(0);
inline const Allowed kProbability = interval(0, 1);

template <typename S> struct Field {
  std::string key;   // in the JSON form
  std::string flag;  // `siammae train --<flag>`; empty when the setting has no flag
  std::string help;
  bool saved = true;  // false: belongs to one invocation, left out of to_json (config.json)
  std::function<nlohmann::json(const S&)> get;
  std::function<void(S&, const nlohmann::json&)> set;      // throws naming the key on a wrong type
  std::function<void(S&, const std::string&)> parse;       // the flag's text; throws naming the flag
  std::function<std::string(const S&)> text;               // the value as the flag would take it
  std::function<void(const S&)> check;                     // throws naming the flag when not allowed

  // How messages name the setting: by its flag when it has one, else by its key.
  std::string name() const { return flag.empty() ? "'" + key + "'" : "--" + flag; }
};

template <typename S> class FieldTable {
 public:
  // `op` starts every message ("[op] ..."); `noun` names an entry of the JSON form ("option").
  FieldTable(std::string op, std::string noun) : op_(std::move(op)), noun_(std::move(noun)) {}

  template <typename T>
  FieldTable& add(const std::string& key, T S::*member, const std::string& flag, const std::string& help,
                  const Allowed& allowed = {});
  // The last added setting belongs to one invocation: left out of to_json.
  FieldTable& not_saved() {
    fields_.back().saved = false;
    return *this;
  }

  const std::vector<Field<S>>& fields() const { return fields_; }

  // The saved settings as one JSON object.
  nlohmann::json to_json(const S& settings) const {
    nlohmann::json j = nlohmann::json::object();
    for (const Field<S>& f : fields_)
      if (f.saved) j[f.key] = f.get(settings);
    return j;
  }
  // Sets every saved setting `j` names; the others keep their value (a setting of one
  // invocation is ignored: older files hold some). A key that names no setting (and is not in
  // `ignored`) or a value of the wrong type throws naming it.
  void read_json(const nlohmann::json& j, S& settings, const std::vector<std::string>& ignored = {}) const {
    check(j.is_object(), op_, "expected a JSON object, got ", j.dump());
    for (const auto& [key, value] : j.items()) {
      const Field<S>* field = find_key(key);
      if (field) {
        if (field->saved) field->set(settings, value);
      } else {
        check(std::find(ignored.begin(), ignored.end(), key) != ignored.end(), op_, "unknown ", noun_, " '", key, "'");
      }
    }
  }
  // Throws naming the first setting outside its allowed values.
  void check_values(const S& settings) const {
    for (const Field<S>& f : fields_) f.check(settings);
  }

 private:
  const Field<S>* find_key(const std::string& key) const {
    for (const Field<S>& f : fields_)
      if (f.key == key) return &f;
    return nullptr;
  }
  std::string op_, noun_;
  std::vector<Field<S>> fields_;
};

// Settings read from a JSON file by `from_json`; every error names the file.
template <typename S>
S read_settings_file(const std::string& path, const std::string& op, S (*from_json)(const nlohmann::json&)) {
  std::ifstream in(path);
  check(in.good(), op, "cannot open ", path);
  try {
    return from_json(nlohmann::json::parse(in));
  } catch (const nlohmann::json::exception& e) {
    fail(op, path, " is not valid JSON (", e.what(), ")");
  } catch (const Error& e) {
    throw Error(std::string(e.what()) + " in " + path);
  }
}

// ---- how each type of setting is written, read and checked ----

namespace fields_detail {

template <typename T> constexpr bool is_text_list = std::is_same_v<T, std::vector<std::string>>;
template <typename T> constexpr bool is_plain = std::is_arithmetic_v<T> || std::is_enum_v<T> ||
                                                std::is_same_v<T, std::string> || is_text_list<T>;

// What a value of type T looks like, for messages.
template <typename T> const char* kind() {
  if constexpr (std::is_same_v<T, bool>) return "true or false";
  else if constexpr (std::is_same_v<T, uint64_t>) return "a non-negative integer";
  else if constexpr (std::is_integral_v<T>) return "an integer";
  else if constexpr (std::is_floating_point_v<T>) return "a number";
  else if constexpr (is_text_list<T>) return "a list of strings";
  else if constexpr (std::is_enum_v<T> || std::is_same_v<T, std::string>) return "a string";
  else return "an object";
}

template <typename T> bool json_is(const nlohmann::json& j) {
  if constexpr (std::is_same_v<T, bool>) return j.is_boolean();
  else if constexpr (std::is_same_v<T, uint64_t>) return j.is_number_unsigned() || (j.is_number_integer() && j.template get<int64_t>() >= 0);
  else if constexpr (std::is_integral_v<T>)
    return j.is_number_integer() && !(j.is_number_unsigned() && j.template get<uint64_t>() > INT64_MAX);
  else if constexpr (std::is_floating_point_v<T>) return j.is_number();
  else if constexpr (is_text_list<T>) {
    if (!j.is_array()) return false;
    for (const nlohmann::json& item : j)
      if (!item.is_string()) return false;
    return true;
  } else if constexpr (std::is_enum_v<T> || std::is_same_v<T, std::string>) return j.is_string();
  else return j.is_object();
}

// The text of a value, as a flag would take it.
template <typename T> std::string to_text(const T& value) {
  if constexpr (std::is_enum_v<T>) return to_string(value);
  else if constexpr (std::is_same_v<T, std::string>) return value;
  else if constexpr (is_text_list<T>) {
    std::string out;
    for (const std::string& item : value) out += (out.empty() ? "" : ",") + item;
    return out;
  } else return nlohmann::json(value).dump();  // numbers in their shortest exact form, true/false
}

// A flag's text as a value; false when it is malformed. Numbers must use the whole text.
template <typename T> bool from_flag_text(const std::string& text, T& value) {
  size_t used = 0;
  try {
    if constexpr (std::is_same_v<T, bool>) {
      if (text != "true" && text != "false") return false;
      value = text == "true";
      return true;
    } else if constexpr (std::is_same_v<T, uint64_t>) {
      if (text.empty() || !std::isdigit(static_cast<unsigned char>(text[0]))) return false;
      value = std::stoull(text, &used);
    } else if constexpr (std::is_integral_v<T>) {
      value = std::stoll(text, &used);
    } else if constexpr (std::is_floating_point_v<T>) {
      value = std::stod(text, &used);
    } else if constexpr (std::is_enum_v<T>) {
      from_text(text, value);  // throws listing the choices
      return true;
    } else if constexpr (std::is_same_v<T, std::string>) {
      value = text;
      return true;
    } else if constexpr (is_text_list<T>) {
      value.clear();
      std::stringstream stream(text);
      for (std::string item; std::getline(stream, item, ',');)
        if (!item.empty()) value.push_back(item);
      return true;
    }
  } catch (const std::invalid_argument&) {
    return false;
  } catch (const std::out_of_range&) {
    return false;
  }
  return !text.empty() && used == text.size();
}

inline std::string number_text(double v) {
  char text[32];
  std::snprintf(text, sizeof(text), "%.10g", v);
  return text;
}

// "must be > 0", "must be in [0, 1)", ... for a number range.
inline std::string describe(const Allowed& a) {
  const bool has_low = std::isfinite(a.low), has_high = std::isfinite(a.high);
  if (has_low && has_high)
    return "in " + std::string(a.low_open ? "(" : "[") + number_text(a.low) + ", " + number_text(a.high) +
           (a.high_open ? ")" : "]");
  if (has_low) return (a.low_open ? "> " : ">= ") + number_text(a.low);
  return (a.high_open ? "< " : "<= ") + number_text(a.high);
}

}  // namespace fields_detail

template <typename S>
template <typename T>
FieldTable<S>& FieldTable<S>::add(const std::string& key, T S::*member, const std::string& flag,
                                  const std::string& help, const Allowed& allowed) {
  namespace d = fields_detail;
  Field<S> f;
  f.key = key, f.flag = flag, f.help = help;
  const std::string op = op_, name = f.name();
  f.get = [member](const S& s) {
    if constexpr (std::is_enum_v<T>) return nlohmann::json(to_string(s.*member));
    else return nlohmann::json(s.*member);
  };
  f.set = [member, op, key](S& s, const nlohmann::json& j) {
    check(d::json_is<T>(j), op, "'", key, "' must be ", d::kind<T>(), ", got ", j.dump());
    if constexpr (std::is_enum_v<T>) {
      from_text(j.template get<std::string>(), s.*member);
    } else {
      s.*member = j.template get<T>();
    }
  };
  if constexpr (d::is_plain<T>) {
    f.parse = [member, op, flag](S& s, const std::string& text) {
      check(d::from_flag_text(text, s.*member), op, "--", flag, " expects ", d::kind<T>(), ", got '", text, "'");
    };
    f.text = [member](const S& s) { return d::to_text(s.*member); };
  }
  f.check = [member, op, name, allowed](const S& s) {
    const T& value = s.*member;
    if constexpr (std::is_arithmetic_v<T> && !std::is_same_v<T, bool>) {
      const double v = static_cast<double>(value);
      const bool inside = (allowed.low_open ? v > allowed.low : v >= allowed.low) &&
                          (allowed.high_open ? v < allowed.high : v <= allowed.high);
      if constexpr (std::is_floating_point_v<T>)
        check(std::isfinite(v), op, name, " must be a finite number, got ", v);
      check(inside, op, name, " must be ", d::describe(allowed), ", got ", d::number_text(v));
    } else if constexpr (std::is_same_v<T, std::string>) {
      if (allowed.choices.empty()) return;
      std::string list;
      for (const std::string& c : allowed.choices) {
        if (c == value) return;
        list += (list.empty() ? "" : " or ") + c;
      }
      fail(op, name, " must be ", list, ", got '", value, "'");
    }
  };
  fields_.push_back(std::move(f));
  return *this;
}

}  // namespace sm
