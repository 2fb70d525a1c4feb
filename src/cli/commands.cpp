#include "cli/commands.h"

namespace nablagfn::cli {

const std::vector<Command>& commands() {
  static const std::vector<Command> list = {
      {"config", run_config},
      {"train", run_train},
      {"sample", run_sample},
      {"export", run_export},
      {"eval", run_eval},
      {"pretrain", run_pretrain},
  };
  return list;
}

}  // namespace nablagfn::cli
