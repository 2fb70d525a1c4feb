#include "algorithms/checkpoint.h"

#include <torch/serialize.h>

#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "io/atomic_file.h"
#include "io/tensor_io.h"

namespace nablagfn {

namespace fs = std::filesystem;

namespace {
std::string epoch_dir_name(int epoch) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "epoch_%04d", epoch);
  return buf;
}
}  // namespace

void save_checkpoint(const RunDir& run, const CheckpointState& state, Denoiser& denoiser, Algorithm& algorithm,
                     torch::optim::Optimizer& optimizer, const at::Generator& gen) {
  const fs::path final_dir = run.path("checkpoints/" + epoch_dir_name(state.epoch));
  const fs::path tmp_dir = final_dir.string() + ".tmp";
  fs::remove_all(tmp_dir);
  fs::create_directories(tmp_dir);
  save_safetensors((tmp_dir / "adapter.safetensors").string(), denoiser.trainable_state());
  save_safetensors((tmp_dir / "algorithm.safetensors").string(), algorithm.state());
  save_safetensors((tmp_dir / "rng.safetensors").string(),
                   std::vector<std::pair<std::string, at::Tensor>>{{"generator", gen.get_state()}});
  torch::save(optimizer, (tmp_dir / "optimizer.pt").string());
  nlohmann::json j = {{"epoch", state.epoch}, {"update", state.update}, {"algorithm", algorithm.name()}};
  write_file_atomic((tmp_dir / "state.json").string(), j.dump(2) + "\n");
  fs::remove_all(final_dir);
  fs::rename(tmp_dir, final_dir);
}

bool load_latest_checkpoint(const RunDir& run, CheckpointState& state, Denoiser& denoiser, Algorithm& algorithm,
                            torch::optim::Optimizer& optimizer, at::Generator& gen) {
  const fs::path root = run.path("checkpoints");
  if (!fs::exists(root)) return false;
  std::string latest;
  for (const auto& entry : fs::directory_iterator(root)) {
    std::string name = entry.path().filename().string();
    if (entry.is_directory() && name.rfind("epoch_", 0) == 0 && name.find(".tmp") == std::string::npos &&
        fs::exists(entry.path() / "state.json") && name > latest)
      latest = name;
  }
  if (latest.empty()) return false;
  const fs::path dir = root / latest;
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(read_file((dir / "state.json").string()));
    state.epoch = j.at("epoch").get<int>();
    state.update = j.at("update").get<int>();
  } catch (const nlohmann::json::exception& e) {
    throw Error("corrupt checkpoint '" + dir.string() + "': " + e.what(), "delete that checkpoint folder to resume from an earlier one");
  }
  require(j.value("algorithm", "") == algorithm.name(),
          "checkpoint '" + dir.string() + "' was written by algorithm '" + j.value("algorithm", "") + "'",
          "resume with the same algorithm.name, or choose another --out");
  denoiser.load_trainable_state(load_safetensors((dir / "adapter.safetensors").string()));
  algorithm.load_state(load_safetensors((dir / "algorithm.safetensors").string()));
  gen.set_state(load_safetensors((dir / "rng.safetensors").string()).at("generator"));
  torch::load(optimizer, (dir / "optimizer.pt").string());
  return true;
}

}  // namespace nablagfn
