#include "core/log.h"

#include <atomic>
#include <cstdio>

namespace nablagfn {

static std::atomic<int> g_log_level{static_cast<int>(LogLevel::Info)};
static std::atomic<int> g_warning_count{0};

void log_set_level(LogLevel level) { g_log_level = static_cast<int>(level); }

int log_warning_count() { return g_warning_count; }

void log_message(LogLevel level, const char* fmt, ...) {
  if (level == LogLevel::Warn) ++g_warning_count;
  if (static_cast<int>(level) < g_log_level) return;
  const char* prefix = level == LogLevel::Warn ? "warning: " : level == LogLevel::Error ? "error: " : "";
  std::fputs(prefix, stderr);
  va_list args;
  va_start(args, fmt);
  std::vfprintf(stderr, fmt, args);
  va_end(args);
  std::fputc('\n', stderr);
}

}  // namespace nablagfn
