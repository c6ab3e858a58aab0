// Progress of long work: one line rewritten in place on a terminal, plain lines in logs and
// pipes. `siammae train` shows its steps with StatusLine; the evaluation commands show frames
// with WorkProgress. (It lives in eval/, the lowest layer both of them reach.)
#pragma once

#include <chrono>
#include <cstdint>
#include <iosfwd>
#include <string>

namespace sm {

// "4m05s" below an hour, "1h02m" from there on.
std::string format_duration(double seconds);

// True when `out` is std::cout or std::cerr and that stream goes to a terminal.
bool is_terminal(const std::ostream& out);

// One status line. On a terminal each show() overwrites the previous one (carriage return,
// text, erase to the end of the line); elsewhere each show() is a line of its own. Without a
// stream (nullptr) it prints nothing.
class StatusLine {
 public:
  StatusLine(std::ostream* out, bool terminal);
  void show(const std::string& text);
  // A line of its own above the status line, which the next show() draws again.
  void print(const std::string& text);
  // Moves past the status line on a terminal, so that what follows starts on a fresh line.
  void end_line();
  bool terminal() const { return terminal_; }

 private:
  std::ostream* out_;
  bool terminal_;
  bool open_ = false;  // a status line is on the screen and the cursor is at its end
};

// Progress through a known number of units (frames) in named items (sequences, videos):
//   [propagate] 37/422 frames  2.3 frames/s  ETA 2m40s  sequence 2/8 blackswan
// On a terminal the line is redrawn at every advance(); elsewhere it is printed at most every
// `interval_seconds`. finish_item() prints one line per item in both cases.
class WorkProgress {
 public:
  // On `out` (nullptr: silent), redrawn in place when `terminal`.
  WorkProgress(std::string task, int64_t total, std::string unit, std::ostream* out, bool terminal,
               double interval_seconds = 10);
  // On std::cerr, redrawn in place when it is a terminal; silent unless `shown`.
  WorkProgress(std::string task, int64_t total, std::string unit, bool shown);

  void start_item(std::string label);
  // The same with the label "<kind> <index + 1>/<count> <name>", e.g. "sequence 2/8 blackswan".
  void start_item(const std::string& kind, size_t index, size_t count, const std::string& name);
  void advance(int64_t units = 1);
  // "[task] <label>: <summary>, <seconds> s", on a line of its own.
  void finish_item(const std::string& summary);
  // Ends the status line (on a terminal), so the caller's next output starts on a fresh line.
  void finish();

  // The status line as shown now.
  std::string line() const;
  int64_t done() const { return done_; }

 private:
  using Clock = std::chrono::steady_clock;
  double seconds_since(Clock::time_point t) const;

  std::string task_, unit_, item_;
  int64_t total_, done_ = 0;
  StatusLine status_;
  double interval_;
  Clock::time_point started_, item_started_, last_shown_;
};

}  // namespace sm
