#pragma once
// A one-line progress bar for long loops: "label  37% |#######      | 37/100 [00:12<00:20, 3.1 it/s] extra".
// Redraws in place on a terminal, prints a line every ~10 % otherwise (logs, CI).
#include <chrono>
#include <string>

namespace nablagfn {

class ProgressBar {
 public:
  ProgressBar(std::string label, long total);
  ~ProgressBar();
  // Advances by n and redraws; extra is shown after the rate (for example "loss 0.12").
  void update(long n = 1, const std::string& extra = "");
  void finish();

 private:
  void draw(bool final_line);
  std::string label_;
  long total_;
  long done_ = 0;
  long last_printed_ = -1;
  int last_decile_ = -1;
  bool finished_ = false;
  bool tty_;
  std::string extra_;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_;
};

}  // namespace nablagfn
