// nablagfn config --defaults | --config FILE [--set key=value ...]: prints the resolved configuration, after
// the same validation as train.
#include <CLI/CLI.hpp>
#include <cstdio>

#include "cli/commands.h"
#include "cli/parse_args.h"
#include "config/config.h"
#include "problems/component_names.h"

namespace nablagfn::cli {

int run_config(const std::vector<std::string>& args) {
  CLI::App app("print the resolved configuration", "nablagfn config");
  bool defaults = false;
  std::string path;
  std::vector<std::string> sets;
  app.add_flag("--defaults", defaults, "print every key with its default and documentation (JSONC)");
  app.add_option("--config", path, "experiment file (JSONC)");
  app.add_option("--set", sets, "override, group.key=value (repeatable)");
  if (const int code = parse_args(app, args); code >= 0) return code;
  Config config = path.empty() ? Config{} : load_config(path);
  for (const auto& s : sets) apply_override(config, s);
  validate(config);
  check_component_names(config);
  std::fputs(defaults && path.empty() && sets.empty() ? to_jsonc(config).c_str() : to_json(config).c_str(), stdout);
  return 0;
}

}  // namespace nablagfn::cli
