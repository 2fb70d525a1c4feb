// nablagfn command line: train, sample, eval, pretrain, config (DESIGN.md, "Command-line contract").
// Every user-facing failure is a nablagfn::Error caught here once: "error: <what> (hint: ...)", exit 1.
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "core/error.h"

namespace {
const char* kUsage =
    "usage: nablagfn <command> [options]\n"
    "  train    --config FILE [--set key=value ...] [--out DIR] [--resume [--allow-config-change]]\n"
    "  sample   --model DIR [--lora FILE] --prompt TEXT [--n N] [--steps K] [--seed S] --out grid.png\n"
    "  export   --run DIR [--lora-format diffusers|peft|kohya] [--merge-lora] [--out DIR]\n"
    "  eval     --runs DIR [DIR ...] --out DIR [--set key=value ...]\n"
    "  pretrain --config FILE [--set key=value ...] [--out DIR]\n"
    "  config   --defaults | --config FILE [--set key=value ...]\n"
    "run `nablagfn <command> --help` for the options of one command\n";
}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0) {
    std::fputs(kUsage, argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  std::string command = argv[1];
  std::vector<std::string> args(argv + 2, argv + argc);
  try {
    for (const auto& c : nablagfn::cli::commands())
      if (c.name == command) return c.run(args);
    throw nablagfn::Error("unknown command '" + command + "'", "commands: train, sample, export, eval, pretrain, config");
  } catch (const nablagfn::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    // Anything else is a bug or a library failure; still one line and a non-zero exit, never a crash.
    std::string what = e.what();
    auto nl = what.find('\n');
    std::fprintf(stderr, "error: %s (hint: this is unexpected; please report it with the command line)\n",
                 what.substr(0, nl).c_str());
    return 1;
  }
}
