#include "algorithms/checkpoint.h"

#include <torch/serialize.h>

#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/log.h"
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

std::string stream_rng_key(size_t stream, const std::string& base = "generator") {
  return stream == 0 ? base : base + "." + std::to_string(stream);
}

// The tensor fields of a trajectory batch by name (undefined ones left out).
std::vector<std::pair<std::string, at::Tensor>> batch_tensors(const TrajectoryBatch& b) {
  std::vector<std::pair<std::string, at::Tensor>> out;
  for (const auto& [name, t] : {std::pair<std::string, at::Tensor>{"cond", b.cond},
                                {"x", b.x},
                                {"eps_old", b.eps_old},
                                {"log_prob", b.log_prob},
                                {"x0_prev", b.x0_prev},
                                {"reward", b.reward}})
    if (t.defined()) out.emplace_back(name, t);
  return out;
}

TrajectoryBatch batch_from_tensors(const TensorMap& tensors, std::vector<std::string> prompts) {
  auto get = [&](const char* name) {
    auto it = tensors.find(name);
    return it == tensors.end() ? at::Tensor() : it->second;
  };
  TrajectoryBatch b;
  b.prompts = std::move(prompts);
  b.cond = get("cond");
  b.x = get("x");
  b.eps_old = get("eps_old");
  b.log_prob = get("log_prob");
  b.x0_prev = get("x0_prev");
  b.reward = get("reward");
  return b;
}

// Complete checkpoint folders (epoch_NNNN with state.json), oldest first.
std::vector<std::string> complete_checkpoints(const std::string& root) {
  std::vector<std::string> out;
  if (!is_directory(root)) return out;
  for (const auto& name : list_directory(root))
    if (name.rfind("epoch_", 0) == 0 && name.find(".tmp") == std::string::npos &&
        path_exists(join_path(join_path(root, name), "state.json")))
      out.push_back(name);
  return out;  // list_directory sorts, and the names are zero-padded
}

// state.json of the checkpoint in dir: epoch and update into state, the whole object returned.
nlohmann::json read_state(const std::string& dir, CheckpointState& state) {
  try {
    nlohmann::json j = nlohmann::json::parse(read_file(join_path(dir, "state.json")));
    state.epoch = j.at("epoch").get<int>();
    state.update = j.at("update").get<int>();
    return j;
  } catch (const nlohmann::json::exception& e) {
    throw Error("corrupt checkpoint '" + dir + "': " + e.what(), "delete that checkpoint folder to use an earlier one");
  }
}
}  // namespace

void save_checkpoint(const RunDir& run, const CheckpointState& state, Denoiser& denoiser, Algorithm& algorithm,
                     torch::optim::Optimizer& optimizer, const std::vector<at::Tensor>& stream_rng_states,
                     const std::vector<at::Tensor>& device_rng_states, int keep) {
  const std::string final_dir = run.path("checkpoints/" + epoch_dir_name(state.epoch));
  const std::string tmp_dir = final_dir + ".tmp";
  remove_tree(tmp_dir);
  make_directories(tmp_dir);
  save_safetensors(join_path(tmp_dir, "adapter.safetensors"), denoiser.trainable_state());
  save_safetensors(join_path(tmp_dir, "algorithm.safetensors"), algorithm.state());
  std::vector<std::pair<std::string, at::Tensor>> rng;
  for (size_t s = 0; s < stream_rng_states.size(); ++s) rng.emplace_back(stream_rng_key(s), stream_rng_states[s]);
  for (size_t s = 0; s < device_rng_states.size(); ++s)
    rng.emplace_back(stream_rng_key(s, "device_generator"), device_rng_states[s]);
  save_safetensors(join_path(tmp_dir, "rng.safetensors"), rng);
  torch::save(optimizer, join_path(tmp_dir, "optimizer.pt"));
  nlohmann::json j = {{"epoch", state.epoch}, {"update", state.update}, {"algorithm", algorithm.name()}};
  if (state.lagged.size() > 0) {
    save_safetensors(join_path(tmp_dir, "lagged.safetensors"), batch_tensors(state.lagged));
    j["lagged_prompts"] = state.lagged.prompts;
  }
  write_file_atomic(join_path(tmp_dir, "state.json"), j.dump(2) + "\n");
  remove_tree(final_dir);
  rename_path(tmp_dir, final_dir);
  if (keep <= 0) return;
  const std::vector<std::string> all = complete_checkpoints(run.path("checkpoints"));
  for (size_t i = 0; i + keep < all.size(); ++i) remove_tree(run.path("checkpoints/" + all[i]));
}

std::string latest_checkpoint_dir(const RunDir& run) {
  const std::vector<std::string> all = complete_checkpoints(run.path("checkpoints"));
  return all.empty() ? "" : run.path("checkpoints/" + all.back());
}

std::vector<CheckpointEntry> list_checkpoints(const std::string& run_root) {
  const std::string root = join_path(run_root, "checkpoints");
  std::vector<CheckpointEntry> out;
  for (const auto& name : complete_checkpoints(root)) {
    CheckpointEntry e;
    e.dir = join_path(root, name);
    read_state(e.dir, e.state);
    out.push_back(e);
  }
  return out;
}

void load_checkpoint_adapter(const CheckpointEntry& checkpoint, Denoiser& denoiser) {
  denoiser.load_trainable_state(load_safetensors(join_path(checkpoint.dir, "adapter.safetensors")));
}

bool load_latest_checkpoint(const RunDir& run, CheckpointState& state, Denoiser& denoiser, Algorithm& algorithm,
                            torch::optim::Optimizer& optimizer, std::vector<at::Generator>& gens, int first_stream,
                            std::vector<at::Generator>* device_gens) {
  const std::string dir = latest_checkpoint_dir(run);
  if (dir.empty()) return false;
  const nlohmann::json j = read_state(dir, state);
  state.lagged = TrajectoryBatch();
  try {
    if (j.contains("lagged_prompts"))
      state.lagged = batch_from_tensors(load_safetensors(join_path(dir, "lagged.safetensors")),
                                        j.at("lagged_prompts").get<std::vector<std::string>>());
  } catch (const nlohmann::json::exception& e) {
    throw Error("corrupt checkpoint '" + dir + "': " + e.what(), "delete that checkpoint folder to use an earlier one");
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
  if (device_gens != nullptr && rng.count(stream_rng_key(first_stream, "device_generator")) == 0)
    NABLAGFN_WARN("checkpoint '%s' holds no device generator state (an older nablagfn wrote it): the step noise "
                  "after this resume differs from a straight run", dir.c_str());
  else if (device_gens != nullptr)
    for (size_t i = 0; i < device_gens->size(); ++i) {
      const std::string key = stream_rng_key(first_stream + i, "device_generator");
      require(rng.count(key) == 1, "checkpoint '" + dir + "' has no device generator for stream " + std::to_string(first_stream + i),
              "resume with the run.data_streams the run was started with");
      (*device_gens)[i].set_state(rng.at(key));
    }
  torch::load(optimizer, join_path(dir, "optimizer.pt"));
  return true;
}

}  // namespace nablagfn
