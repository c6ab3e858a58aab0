#include "eval/progress.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <iostream>

namespace sm {

std::string format_duration(double seconds) {
  const auto s = static_cast<long>(std::max(0.0, seconds));
  char buffer[32];
  if (s >= 3600) {
    std::snprintf(buffer, sizeof(buffer), "%ldh%02ldm", s / 3600, s % 3600 / 60);
  } else {
    std::snprintf(buffer, sizeof(buffer), "%ldm%02lds", s / 60, s % 60);
  }
  return buffer;
}

bool is_terminal(const std::ostream& out) {
  if (&out == &std::cout) return isatty(STDOUT_FILENO) != 0;
  if (&out == &std::cerr) return isatty(STDERR_FILENO) != 0;
  return false;
}

// ---------------- StatusLine ----------------

StatusLine::StatusLine(std::ostream* out, bool terminal) : out_(out), terminal_(terminal) {}

void StatusLine::show(const std::string& text) {
  if (!out_) return;
  if (terminal_) {
    *out_ << "\r" << text << "\033[K" << std::flush;  // \033[K: erase what a longer line left
    open_ = true;
  } else {
    *out_ << text << "\n" << std::flush;
  }
}

void StatusLine::print(const std::string& text) {
  if (!out_) return;
  if (open_) *out_ << "\r\033[K";
  *out_ << text << "\n" << std::flush;
  open_ = false;
}

void StatusLine::end_line() {
  if (open_) *out_ << "\n" << std::flush;
  open_ = false;
}

// ---------------- WorkProgress ----------------

WorkProgress::WorkProgress(std::string task, int64_t total, std::string unit, std::ostream* out, bool terminal,
                           double interval_seconds)
    : task_(std::move(task)), unit_(std::move(unit)), total_(total), status_(out, terminal),
      interval_(interval_seconds), started_(Clock::now()), item_started_(started_), last_shown_(started_) {}

WorkProgress::WorkProgress(std::string task, int64_t total, std::string unit, bool shown)
    : WorkProgress(std::move(task), total, std::move(unit), shown ? &std::cerr : nullptr, is_terminal(std::cerr)) {}

double WorkProgress::seconds_since(Clock::time_point t) const {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

void WorkProgress::start_item(std::string label) {
  item_ = std::move(label);
  item_started_ = Clock::now();
}

void WorkProgress::start_item(const std::string& kind, size_t index, size_t count, const std::string& name) {
  start_item(kind + " " + std::to_string(index + 1) + "/" + std::to_string(count) + " " + name);
}

void WorkProgress::advance(int64_t units) {
  done_ += units;
  if (!status_.terminal() && seconds_since(last_shown_) < interval_) return;
  status_.show(line());
  last_shown_ = Clock::now();
}

void WorkProgress::finish_item(const std::string& summary) {
  char seconds[32];
  std::snprintf(seconds, sizeof(seconds), "%.1f s", seconds_since(item_started_));
  status_.print("[" + task_ + "] " + item_ + ": " + summary + ", " + seconds);
}

void WorkProgress::finish() { status_.end_line(); }

std::string WorkProgress::line() const {
  const double elapsed = seconds_since(started_);
  const double rate = elapsed > 0 ? static_cast<double>(done_) / elapsed : 0;
  char text[160];
  std::snprintf(text, sizeof(text), "[%s] %ld/%ld %s  %.2f %s/s  ETA %s", task_.c_str(), static_cast<long>(done_),
                static_cast<long>(total_), unit_.c_str(), rate, unit_.c_str(),
                rate > 0 ? format_duration(static_cast<double>(total_ - done_) / rate).c_str() : "?");
  return item_.empty() ? text : std::string(text) + "  " + item_;
}

}  // namespace sm
