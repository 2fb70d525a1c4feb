#pragma once
// The subcommands of the nablagfn executable, one file each (cli/<name>.cpp).
#include <functional>
#include <string>
#include <vector>

namespace nablagfn::cli {

struct Command {
  std::string name;
  std::function<int(const std::vector<std::string>&)> run;
};

const std::vector<Command>& commands();

int run_config(const std::vector<std::string>& args);
int run_train(const std::vector<std::string>& args);
int run_sample(const std::vector<std::string>& args);
int run_export(const std::vector<std::string>& args);
int run_eval(const std::vector<std::string>& args);
int run_pretrain(const std::vector<std::string>& args);

}  // namespace nablagfn::cli
