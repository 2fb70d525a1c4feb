#pragma once
// Data-parallel processes over torch.distributed's C++ process groups (c10d): the torchrun launch
// convention (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT; rank 0 serves the TCPStore), NCCL on
// the CUDA build, Gloo on the CPU build, and the few collectives the trainer needs. Without those
// variables there is one process and every collective is the identity.
//
// Failure handling: a rank that stops with an error writes it under an abort key of the store; a watchdog
// thread on every other rank polls that key (and notices a vanished store, i.e. rank 0 gone) and ends its
// process with the message naming the failed rank. Collectives time out after run.dist_timeout seconds.
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

namespace nablagfn {

// torchrun's environment. world_size 1 (no WORLD_SIZE) means one process, nothing to connect to.
struct LaunchEnv {
  int rank = 0;
  int world_size = 1;
  int local_rank = 0;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
};

// Reads the variables above; a malformed or inconsistent value is an Error naming it.
LaunchEnv read_launch_env();

// Which collective backend this build has: "nccl", "gloo", "nccl+gloo" or "none".
std::string distributed_backends();

class Collectives {
 public:
  // Joins the process group of env (a no-op for one process). device is where the training tensors live:
  // CUDA devices use NCCL, the CPU Gloo; a build without that backend is an Error.
  static std::unique_ptr<Collectives> join(const LaunchEnv& env, c10::Device device, std::chrono::seconds timeout);
  ~Collectives();
  Collectives(const Collectives&) = delete;
  Collectives& operator=(const Collectives&) = delete;

  int rank() const { return env_.rank; }
  int world_size() const { return env_.world_size; }
  bool is_main() const { return env_.rank == 0; }

  // In-place sum over ranks of t (any device; contiguous). what names the collective in errors.
  void all_reduce_sum(at::Tensor& t, const char* what);
  // In-place copy of rank 0's t to every rank.
  void broadcast_from_main(at::Tensor& t, const char* what);
  // Every rank's t (same shape and dtype on all ranks), indexed by rank, on t's device.
  std::vector<at::Tensor> all_gather(const at::Tensor& t, const char* what);
  // Waits for every rank; stops the watchdog first when final (rank 0's store may close right after).
  void barrier(bool final);
  // Tells the other ranks that this one stopped with message (they exit with it); call before exiting.
  void abort(const std::string& message);

 private:
  struct Impl;
  Collectives(LaunchEnv env, std::unique_ptr<Impl> impl);
  LaunchEnv env_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace nablagfn
