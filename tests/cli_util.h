#pragma once
// Runs the built nablagfn binary for the command-line tests (test_sample_cli, test_eval_cli).
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <string>

namespace nablagfn::test {

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr
};

// `nablagfn <args>` from the build directory, stderr folded into the output.
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

}  // namespace nablagfn::test
