#include "core/progress.h"

#include <unistd.h>

#include <cstdio>

namespace nablagfn {

static std::string format_seconds(double s) {
  int t = static_cast<int>(s + 0.5);
  char buf[32];
  if (t >= 3600)
    std::snprintf(buf, sizeof buf, "%d:%02d:%02d", t / 3600, (t / 60) % 60, t % 60);
  else
    std::snprintf(buf, sizeof buf, "%02d:%02d", t / 60, t % 60);
  return buf;
}

ProgressBar::ProgressBar(std::string label, long total)
    : label_(std::move(label)), total_(total > 0 ? total : 1), tty_(isatty(fileno(stderr)) != 0),
      start_(std::chrono::steady_clock::now()), last_draw_(start_) {}

ProgressBar::~ProgressBar() { finish(); }

void ProgressBar::update(long n, const std::string& extra) {
  done_ += n;
  extra_ = extra;
  auto now = std::chrono::steady_clock::now();
  int decile = static_cast<int>(10 * done_ / total_);
  bool due = tty_ ? now - last_draw_ > std::chrono::milliseconds(100) : decile != last_decile_;
  if (due || done_ >= total_) {
    last_decile_ = decile;
    last_draw_ = now;
    draw(false);
  }
}

void ProgressBar::finish() {
  if (finished_) return;
  finished_ = true;
  draw(true);
}

void ProgressBar::draw(bool final_line) {
  const int width = 24;
  double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  double frac = static_cast<double>(done_) / total_;
  int fill = static_cast<int>(frac * width);
  std::string bar(fill, '#');
  bar.resize(width, ' ');
  double rate = elapsed > 0 ? done_ / elapsed : 0.0;
  double eta = rate > 0 ? (total_ - done_) / rate : 0.0;
  char line[512];
  std::snprintf(line, sizeof line, "%s %3d%% |%s| %ld/%ld [%s<%s, %.2f it/s] %s", label_.c_str(),
                static_cast<int>(100 * frac), bar.c_str(), done_, total_, format_seconds(elapsed).c_str(),
                format_seconds(eta).c_str(), rate, extra_.c_str());
  if (tty_) {
    std::fprintf(stderr, "\r\033[K%s%s", line, final_line ? "\n" : "");
  } else if (done_ != last_printed_) {
    std::fprintf(stderr, "%s\n", line);
  }
  last_printed_ = done_;
  std::fflush(stderr);
}

}  // namespace nablagfn
