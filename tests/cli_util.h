#pragma once
// Running the built nablagfn executable from a test: to completion (output and exit code), or in the
// background (to kill it).
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <string>

namespace nablagfn::test {

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr
};

inline CommandResult run_nablagfn(const std::string& args) {
  const std::string cmd = std::string(NABLAGFN_BINARY_DIR) + "/nablagfn " + args + " 2>&1";
  CommandResult r;
  FILE* pipe = popen(cmd.c_str(), "r");
  if (pipe == nullptr) return r;
  std::array<char, 4096> buf;
  while (fgets(buf.data(), static_cast<int>(buf.size()), pipe) != nullptr) r.output += buf.data();
  const int status = pclose(pipe);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

// Starts `nablagfn args` in the background, output to log; returns its pid (the executable itself).
inline pid_t spawn_nablagfn(const std::string& args, const std::string& log) {
  const std::string cmd = "exec " + std::string(NABLAGFN_BINARY_DIR) + "/nablagfn " + args + " > " + log + " 2>&1";
  const pid_t pid = fork();
  if (pid == 0) {
    execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  return pid;
}

}  // namespace nablagfn::test
