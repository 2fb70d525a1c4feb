#include "algorithms/checkpoint.h"

#include <torch/serialize.h>

#include <cstdio>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "io/atomic_file.h"
#include "io/fs_util.h"
#include "io/tensor_io.h"

namespace nablagfn {

namespace {
std::string epoch_dir_name(int epoch) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "epoch_%04d", epoch);
  return buf;
}

std::string stream_rng_key(size_t stream) { return stream == 0 ? "generator" : "generator." + std::to_string(stream); }
}  // namespace

void save_checkpoint(const RunDir& run, const CheckpointState& state, Denoiser& denoiser, Algorithm& algorithm,
                     torch::optim::Optimizer& optimizer, const std::vector<at::Tensor>& stream_rng_states) {
  const std::string final_dir = run.path("checkpoints/" + epoch_dir_name(state.epoch));
  const std::string tmp_dir = final_dir + ".tmp";
  remove_tree(tmp_dir);
  make_directories(tmp_dir);
  save_safetensors(join_path(tmp_dir, "adapter.safetensors"), denoiser.trainable_state());
  save_safetensors(join_path(tmp_dir, "algorithm.safetensors"), algorithm.state());
  std::vector<std::pair<std::string, at::Tensor>> rng;
  for (size_t s = 0; s < stream_rng_states.size(); ++s) rng.emplace_back(stream_rng_key(s), stream_rng_states[s]);
  save_safetensors(join_path(tmp_dir, "rng.safetensors"), rng);
  torch::save(optimizer, join_path(tmp_dir, "optimizer.pt"));
  nlohmann::json j = {{"epoch", state.epoch}, {"update", state.update}, {"algorithm", algorithm.name()}};
  write_file_atomic(join_path(tmp_dir, "state.json"), j.dump(2) + "\n");
  remove_tree(final_dir);
  rename_path(tmp_dir, final_dir);
}

bool load_latest_checkpoint(const RunDir& run, CheckpointState& state, Denoiser& denoiser, Algorithm& algorithm,
                            torch::optim::Optimizer& optimizer, std::vector<at::Generator>& gens, int first_stream) {
  const std::string root = run.path("checkpoints");
  std::string latest;
  for (const auto& name : list_directory(root)) {
    if (name.rfind("epoch_", 0) == 0 && name.find(".tmp") == std::string::npos &&
        path_exists(join_path(join_path(root, name), "state.json")) && name > latest)
      latest = name;
  }
  if (latest.empty()) return false;
  const std::string dir = join_path(root, latest);
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(read_file(join_path(dir, "state.json")));
    state.epoch = j.at("epoch").get<int>();
    state.update = j.at("update").get<int>();
  } catch (const nlohmann::json::exception& e) {
    throw Error("corrupt checkpoint '" + dir + "': " + e.what(), "delete that checkpoint folder to resume from an earlier one");
  }
  require(j.value("algorithm", "") == algorithm.name(),
          "checkpoint '" + dir + "' was written by algorithm '" + j.value("algorithm", "") + "'",
          "resume with the same algorithm.name, or choose another --out");
  denoiser.load_trainable_state(load_safetensors(join_path(dir, "adapter.safetensors")));
  algorithm.load_state(load_safetensors(join_path(dir, "algorithm.safetensors")));
  const TensorMap rng = load_safetensors(join_path(dir, "rng.safetensors"));
  for (size_t i = 0; i < gens.size(); ++i) {
    const std::string key = stream_rng_key(first_stream + i);
    require(rng.count(key) == 1,
            "checkpoint '" + dir + "' has " + std::to_string(rng.size()) + " random streams, this run needs stream " +
                std::to_string(first_stream + i),
            "resume with run.data_streams=" + std::to_string(rng.size()) + " (and a process count dividing it)");
    gens[i].set_state(rng.at(key));
  }
  torch::load(optimizer, join_path(dir, "optimizer.pt"));
  return true;
}

}  // namespace nablagfn
