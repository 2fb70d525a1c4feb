// Data-parallel training over Gloo (issue 12), end to end with the built binary: 2 processes launched the
// torchrun way (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT) train ∇-DB for a few updates — on
// the toy, and on the tiny Stable Diffusion stack (tests/data/sd_tiny, tiny aesthetic reward) — and their
// policy (toy MLP / LoRA) and flow weights must equal those of 1 process trained on the same global batch
// with the same 2 random streams (run.data_streams=2: the 1 process draws exactly the 2 processes'
// trajectories, shuffles and transitions, and averages the same 2 per-stream gradients).
//
// Tolerance: none, the weights must be bit for bit equal. Each stream's gradient is accumulated alone in
// both runs (StreamGradients in the 1 process), then combined as (g0 + g1) / 2 by the all-reduce or by the
// 1 process, and float addition of two numbers is commutative; every other step is the same computation on
// the same inputs (1 thread per process). Scaling each micro-batch by 1 / (2m) in 1 process instead gave
// differences up to 2.6e-5 after 2 AdamW updates on the tiny SD stack (Adam magnifies the rounding of
// nearly cancelling gradients).
// Also checked: the generators end in the same state; the metrics rows agree: the evaluation's values and
// reward_mean bit for bit (the evaluation set is cut into chunks of sample.batch_size with seeds
// eval.seed + k, the 2 processes draw alternate chunks and gather them, problems/eval_shards.h), the loss
// terms averaged over micro-batches to 1e-12 relative (summed in another order; 1-ulp differences seen);
// 1 process with 1 stream (other data) ends far away (so the comparison can fail); DDPO, whose per-prompt
// reward statistics see both processes' rewards; a 2-process run with train.data_lag=1 resumed from a
// checkpoint (which holds both processes' lagged batches) ends bit for bit where the straight run ends; a
// batch that does not split and a failing rank.
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "io/fs_util.h"
#include "io/run_dir.h"
#include "io/tensor_io.h"
#include "test_util.h"

using namespace nablagfn;

namespace {

// A TCP port nobody listens on right now (the kernel's pick).
int free_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

// Starts `nablagfn args...` with extra environment variables, output into log; returns its pid.
pid_t spawn_nablagfn(const std::vector<std::string>& args, const std::vector<std::string>& env, const std::string& log) {
  const pid_t pid = fork();
  if (pid != 0) return pid;
  for (const auto& kv : env) putenv(const_cast<char*>(kv.c_str()));
  const std::string binary = std::string(NABLAGFN_BINARY_DIR) + "/nablagfn";
  std::vector<char*> argv{const_cast<char*>(binary.c_str())};
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  if (freopen(log.c_str(), "w", stdout) == nullptr || dup2(fileno(stdout), 2) < 0) _exit(126);
  execv(binary.c_str(), argv.data());
  _exit(127);
}

// Exit codes of pids, killing every one still running after timeout (-1 for those).
std::vector<int> wait_all(const std::vector<pid_t>& pids, std::chrono::seconds timeout) {
  std::vector<int> codes(pids.size(), -2);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (size_t left = pids.size(); left > 0 && std::chrono::steady_clock::now() < deadline;) {
    for (size_t i = 0; i < pids.size(); ++i) {
      int status = 0;
      if (codes[i] == -2 && waitpid(pids[i], &status, WNOHANG) == pids[i]) {
        codes[i] = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        --left;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  for (size_t i = 0; i < pids.size(); ++i)
    if (codes[i] == -2) {
      kill(pids[i], SIGKILL);
      waitpid(pids[i], nullptr, 0);
      codes[i] = -1;
    }
  return codes;
}

std::string read_text(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// The toy's ∇-DB, cut to 3 epochs of 64 trajectories, 2 updates of 32 each (6 updates). The evaluation's 200
// samples are 7 chunks of 32 (the last of 8): 4 chunks (104 samples) for rank 0, 3 (96) for rank 1.
const std::vector<std::string> kToy{"--config", std::string(NABLAGFN_SOURCE_DIR) + "/configs/toy2d_nabla_db.jsonc",
                                    "--set", "train.n_epochs=3", "--set", "sample.batch_size=32",
                                    "--set", "sample.n_batches_per_epoch=2", "--set", "train.batch_size=16",
                                    "--set", "train.grad_accum_steps=2", "--set", "eval.n_samples=200"};

// The toy's DDPO, cut the same way to 2 epochs of 10 steps; one prompt, whose buffer holds an epoch.
const std::vector<std::string> kToyDDPO{
    "--config", std::string(NABLAGFN_SOURCE_DIR) + "/configs/toy2d_ddpo.jsonc", "--set", "train.n_epochs=2",
    "--set", "sample.n_steps=10", "--set", "sample.batch_size=32", "--set", "sample.n_batches_per_epoch=2",
    "--set", "train.batch_size=16", "--set", "train.grad_accum_steps=2", "--set", "eval.n_samples=200",
    "--set", "algorithm.ddpo.buffer_size=64", "--set", "algorithm.ddpo.min_count=32"};

// ∇-DB with LoRA on the tiny SD stack: 1 epoch of 4 trajectories x 2 steps, 2 updates of 2.
std::vector<std::string> tiny_sd_args(const std::string& dir) {
  const std::string d = NABLAGFN_TEST_DATA;
  const std::string config = dir + "_config.jsonc";
  std::ofstream(config) << R"({"model": {"kind": "sd", "path": ")" << d << R"(/sd_tiny", "dtype": "float32",
    "lora_rank": 4, "lora_alpha": 4.0, "flow_block_out_channels": [16, 32, 32, 32]},
  "sample": {"n_steps": 2, "batch_size": 2, "n_batches_per_epoch": 2, "prompts": "a photo of a cat"},
  "reward": {"name": "aesthetic", "path": ")" << d << R"(/clip_vision_tiny/vision_model",
             "head_path": ")" << d << R"(/clip_vision_tiny/aesthetic_head.safetensors"},
  "train": {"n_epochs": 1, "batch_size": 2, "grad_accum_steps": 1, "timestep_fraction": 0.5},
  "eval": {"n_samples": 1}})";
  return {"--config", config};
}

std::vector<std::string> train_args(const std::vector<std::string>& problem, const std::string& out,
                                    const std::vector<std::string>& extra, bool resume = false) {
  std::vector<std::string> a{"train", "--out", out};
  if (resume) a.push_back("--resume");
  a.insert(a.end(), problem.begin(), problem.end());
  for (const char* s : {"train.save_every=0", "eval.every=0", "run.device=cpu"}) {
    a.push_back("--set");
    a.push_back(s);
  }
  for (const auto& s : extra) {
    a.push_back("--set");
    a.push_back(s);
  }
  return a;
}

std::string fresh_dir(const std::string& name) {
  const std::string dir = join_path(::testing::TempDir(), "nablagfn_test_train_gloo_" + name);
  remove_tree(dir);
  return dir;
}

// Trains in world_size processes into the fresh run directory name, or continues the run there with
// resume; returns the run directory (expects success).
std::string train_in(const std::vector<std::string>& problem, const std::string& name, int world_size,
                     const std::vector<std::string>& extra, bool resume = false) {
  const std::string out = join_path(::testing::TempDir(), "nablagfn_test_train_gloo_" + name);
  if (!resume) remove_tree(out);
  const std::string port = std::to_string(free_port());
  std::vector<pid_t> pids;
  for (int r = 0; r < world_size; ++r) {
    std::vector<std::string> env{"OMP_NUM_THREADS=1"};
    if (world_size > 1)
      env.insert(env.end(), {"RANK=" + std::to_string(r), "LOCAL_RANK=" + std::to_string(r),
                             "WORLD_SIZE=" + std::to_string(world_size), "MASTER_ADDR=127.0.0.1", "MASTER_PORT=" + port});
    pids.push_back(
        spawn_nablagfn(train_args(problem, out, extra, resume), env, out + ".rank" + std::to_string(r) + ".log"));
  }
  const std::vector<int> codes = wait_all(pids, std::chrono::seconds(120));
  for (int r = 0; r < world_size; ++r)
    EXPECT_EQ(codes[r], 0) << "rank " << r << ":\n" << read_text(out + ".rank" + std::to_string(r) + ".log");
  return out;
}

// Largest |a - b| over the tensors of two safetensors files with the same keys.
double max_abs_diff(const std::string& a_path, const std::string& b_path) {
  const TensorMap a = load_safetensors(a_path), b = load_safetensors(b_path);
  EXPECT_EQ(a.size(), b.size());
  double worst = 0;
  for (const auto& [k, t] : a) {
    EXPECT_EQ(b.count(k), 1u) << k;
    if (b.count(k) == 0) continue;
    worst = std::max(worst, (t.to(at::kDouble) - b.at(k).to(at::kDouble)).abs().max().item<double>());
  }
  return worst;
}

// Every row of two metrics.jsonl equal except the wall-clock seconds; the first and the last row hold the
// evaluation keys of want. The evaluation's keys (those of the first row, the pretrained model's evaluation)
// must be equal bit for bit; the training rows' own keys (loss terms, reward_std) to term_tol relative: the
// all-reduce adds the 2 processes' sums of per-micro-batch terms, where 1 process adds the terms one by one.
void expect_same_metrics(const std::string& a_run, const std::string& b_run, size_t n_rows,
                         const std::vector<std::string>& want, double term_tol) {
  auto a = MetricsLog::read_all(a_run + "/metrics.jsonl"), b = MetricsLog::read_all(b_run + "/metrics.jsonl");
  ASSERT_EQ(a.size(), n_rows);
  ASSERT_EQ(b.size(), n_rows);
  for (const auto& key : want) {
    EXPECT_TRUE(a.front().contains(key)) << "the first row has no " << key;
    EXPECT_TRUE(a.back().contains(key)) << "the last row has no " << key;
  }
  for (size_t i = 0; i < n_rows; ++i) {
    a[i].erase("seconds");
    b[i].erase("seconds");
    ASSERT_EQ(a[i].size(), b[i].size()) << "row " << i << ": " << a[i] << " vs " << b[i];
    for (const auto& [key, value] : a[i].items()) {
      ASSERT_TRUE(b[i].contains(key)) << "row " << i << " has no " << key;
      if (a.front().contains(key))
        EXPECT_EQ(value, b[i][key]) << "row " << i << ", " << key;
      else
        EXPECT_NEAR(value.get<double>(), b[i][key].get<double>(), term_tol * std::abs(value.get<double>()))
            << "row " << i << ", " << key;
    }
  }
}

const std::vector<std::string> kToyEvalKeys{"tv_modes", "off_mass", "reward_eval", "mass_0", "diversity", "prior_fid"};

}  // namespace

// 1 process with 2 streams against 2 processes: the same weights, generator states and metrics rows (the
// pretrained model's evaluation row, epoch -1, then one row per epoch, the last with the final evaluation).
void expect_same_training(const std::string& one, const std::string& two, const std::string& last_checkpoint,
                          size_t n_epochs, const std::vector<std::string>& eval_keys) {
  const std::string ckpt = "/checkpoints/" + last_checkpoint + "/";
  for (const char* file : {"adapter.safetensors", "algorithm.safetensors"})
    EXPECT_EQ(max_abs_diff(one + ckpt + file, two + ckpt + file), 0.0) << file;
  EXPECT_EQ(max_abs_diff(one + ckpt + "rng.safetensors", two + ckpt + "rng.safetensors"), 0.0);
  expect_same_metrics(one, two, n_epochs + 1, eval_keys, 1e-12);
  EXPECT_FALSE(path_exists(two + "/INCOMPLETE"));
}

TEST(TrainGloo, ToyTwoProcessesEqualOneProcessInWeightsAndEvaluationRows) {
  const std::string one = train_in(kToy, "toy_one", 1, {"run.data_streams=2"});
  const std::string two = train_in(kToy, "toy_two", 2, {});
  expect_same_training(one, two, "epoch_0002", 3, kToyEvalKeys);
  EXPECT_NE(read_text(two + ".rank0.log").find("evaluation shared by the 2 processes"), std::string::npos);
  // Rank 0 alone wrote the final samples, all 200 of them.
  EXPECT_EQ(load_safetensors(two + "/final_samples.safetensors").at("samples").size(0), 200);
  const std::string other_data = train_in(kToy, "toy_other", 1, {});
  for (const char* file : {"adapter.safetensors", "algorithm.safetensors"})
    EXPECT_GE(max_abs_diff(one + "/checkpoints/epoch_0002/" + file, other_data + "/checkpoints/epoch_0002/" + file), 1e-3)
        << file << ": the comparison could not fail";
}

TEST(TrainGloo, TinyStableDiffusionTwoProcessesEqualOneProcess) {
  const std::vector<std::string> sd = tiny_sd_args(fresh_dir("sd"));
  const std::string one = train_in(sd, "sd_one", 1, {"run.data_streams=2"});
  const std::string two = train_in(sd, "sd_two", 2, {});
  // eval.n_samples 1: one chunk, drawn by rank 0 while rank 1 draws none.
  expect_same_training(one, two, "epoch_0000", 1, {"reward_eval"});
}

TEST(TrainGloo, ToyDDPOTwoProcessesEqualOneProcess) {
  const std::string one = train_in(kToyDDPO, "ddpo_one", 1, {"run.data_streams=2"});
  const std::string two = train_in(kToyDDPO, "ddpo_two", 2, {});
  expect_same_training(one, two, "epoch_0001", 2, kToyEvalKeys);
  // The per-prompt statistics (both processes' rewards in the one prompt's buffer) are checkpointed alike.
  const TensorMap stats = load_safetensors(two + "/checkpoints/epoch_0001/algorithm.safetensors");
  ASSERT_EQ(stats.count("stats."), 1u);
  EXPECT_EQ(stats.at("stats.").numel(), 64);
}

TEST(TrainGloo, TwoProcessesResumeWithDataLagEqualsTheStraightRun) {
  const std::vector<std::string> lag{"train.data_lag=1", "train.save_every=1"};
  const std::string straight = train_in(kToy, "lag_straight", 2, lag);
  // The run as a kill after epoch 0's checkpoint leaves it: the later checkpoints go, and the resume drops the
  // metrics rows after epoch 0.
  const std::string resumed = join_path(::testing::TempDir(), "nablagfn_test_train_gloo_lag_resumed");
  remove_tree(resumed);
  std::filesystem::copy(straight, resumed, std::filesystem::copy_options::recursive);
  for (const char* later : {"epoch_0001", "epoch_0002"}) remove_tree(resumed + "/checkpoints/" + later);
  // Both processes' lagged batches of epoch 0 (2 x 32 trajectories) are in the checkpoint.
  EXPECT_EQ(load_safetensors(resumed + "/checkpoints/epoch_0000/lagged.safetensors").at("x").size(0), 64);
  train_in(kToy, "lag_resumed", 2, lag, /*resume=*/true);
  for (const char* file : {"adapter.safetensors", "algorithm.safetensors", "rng.safetensors", "lagged.safetensors"})
    EXPECT_EQ(max_abs_diff(straight + "/checkpoints/epoch_0002/" + file, resumed + "/checkpoints/epoch_0002/" + file),
              0.0)
        << file;
  expect_same_metrics(straight, resumed, 4, kToyEvalKeys, 0.0);
}

TEST(TrainGloo, AGlobalBatchThatDoesNotSplitIsAnErrorNamingTheNumbers) {
  const std::string out = fresh_dir("indivisible");
  const std::string port = std::to_string(free_port());
  std::vector<pid_t> pids;
  for (int r = 0; r < 2; ++r)
    pids.push_back(spawn_nablagfn(train_args(kToy, out, {"sample.batch_size=33", "sample.n_batches_per_epoch=1",
                                                 "train.batch_size=33", "train.grad_accum_steps=1"}),
                                  {"RANK=" + std::to_string(r), "WORLD_SIZE=2", "MASTER_ADDR=127.0.0.1",
                                   "MASTER_PORT=" + port},
                                  out + ".rank" + std::to_string(r) + ".log"));
  const std::vector<int> codes = wait_all(pids, std::chrono::seconds(60));
  for (int r = 0; r < 2; ++r) {
    EXPECT_EQ(codes[r], 1);
    const std::string log = read_text(out + ".rank" + std::to_string(r) + ".log");
    EXPECT_NE(log.find("(33 x 1, sample.batch_size x sample.n_batches_per_epoch) do not split over 2"), std::string::npos)
        << log;
  }
}

TEST(TrainGloo, ARankThatFailsStopsTheOtherWithItsError) {
  const std::string out = fresh_dir("failing_rank");
  const std::string port = std::to_string(free_port());
  std::vector<pid_t> pids;
  for (int r = 0; r < 2; ++r) {
    // Rank 1 alone gets a reward it cannot build (a valid configuration, so it fails after joining, in
    // make_problem), while rank 0 waits for it.
    std::vector<std::string> extra;
    if (r == 1) extra.push_back("reward.name=aesthetic");
    pids.push_back(spawn_nablagfn(train_args(kToy, out, extra),
                                  {"RANK=" + std::to_string(r), "WORLD_SIZE=2", "MASTER_ADDR=127.0.0.1", "MASTER_PORT=" + port},
                                  out + ".rank" + std::to_string(r) + ".log"));
  }
  const std::vector<int> codes = wait_all(pids, std::chrono::seconds(60));
  EXPECT_EQ(codes[0], 1);
  EXPECT_EQ(codes[1], 1);
  const std::string log0 = read_text(out + ".rank0.log");
  EXPECT_NE(log0.find("rank 0 stops because rank 1 failed: reward 'aesthetic' needs reward.path"),
            std::string::npos)
      << log0;
}
