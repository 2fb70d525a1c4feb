#pragma once
// A tiny printf-style logger on stderr (spdlog/fmt clash with the fmt inside torch 2.11's includes).
// Never name a macro CHECK or LOG here: Debian's libtorch leaks glog's.
#include <cstdarg>
#include <string>

namespace nablagfn {

enum class LogLevel { Debug, Info, Warn, Error };

void log_set_level(LogLevel level);
void log_message(LogLevel level, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
// Number of warnings logged since start; tests assert it stays 0.
int log_warning_count();

#define NABLAGFN_INFO(...) ::nablagfn::log_message(::nablagfn::LogLevel::Info, __VA_ARGS__)
#define NABLAGFN_WARN(...) ::nablagfn::log_message(::nablagfn::LogLevel::Warn, __VA_ARGS__)
#define NABLAGFN_DEBUG(...) ::nablagfn::log_message(::nablagfn::LogLevel::Debug, __VA_ARGS__)

}  // namespace nablagfn
