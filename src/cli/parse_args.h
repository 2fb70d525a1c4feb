#pragma once
// The argument parsing every subcommand shares: CLI11 over the arguments main.cpp passes on.
#include <CLI/CLI.hpp>

#include <string>
#include <vector>

namespace nablagfn::cli {

// Parses args into app. Returns -1 when the command should go on, else the exit code to return (--help,
// or a usage error CLI11 has already printed).
inline int parse_args(CLI::App& app, const std::vector<std::string>& args) {
  std::vector<std::string> rev(args.rbegin(), args.rend());  // CLI11 takes them last-first
  try {
    app.parse(rev);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  return -1;
}

}  // namespace nablagfn::cli
