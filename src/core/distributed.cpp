#include "core/distributed.h"

#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <torch/version.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "core/error.h"

#if NABLAGFN_WITH_GLOO
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#endif
#if NABLAGFN_WITH_NCCL
#include <c10/cuda/CUDAFunctions.h>
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

// Distributed compatibility section (the c10d differences between libtorch 1.13 and 2.x, kept here rather
// than in core/compat.h so that no other TU pulls in c10d): 1.13's ProcessGroupGloo / ProcessGroupNCCL
// derive from c10d::ProcessGroup, 2.x's from c10d::Backend; both bases declare the same allreduce /
// allgather / Work interface used below. Options: 1.13's Gloo Options::create(timeout), 2.x the same; NCCL's
// Options::create(bool high_priority) in both, with the timeout a member of the base Options.
#if TORCH_VERSION_MAJOR >= 2
#include <torch/csrc/distributed/c10d/Backend.hpp>
namespace nablagfn::dist_compat {
using BackendBase = c10d::Backend;
}
#else
#include <torch/csrc/distributed/c10d/ProcessGroup.hpp>
namespace nablagfn::dist_compat {
using BackendBase = c10d::ProcessGroup;
}
#endif

namespace nablagfn {

namespace dist_detail {

constexpr const char* kAbortKey = "nablagfn/abort";
constexpr auto kWatchdogPeriod = std::chrono::milliseconds(200);

int env_int(const char* name, int fallback) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return fallback;
  char* end = nullptr;
  const long x = std::strtol(v, &end, 10);
  require(*end == '\0' && x >= 0 && x < (1L << 30), std::string("environment variable ") + name + "='" + v +
                                                        "' is not a non-negative integer",
          "launch with torchrun, or set RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT yourself");
  return static_cast<int>(x);
}

// torchrun's agent serves the store itself and tells the workers so; they connect as clients under a
// per-attempt prefix (torch/distributed/rendezvous.py, _create_c10d_store).
bool agent_serves_store() {
  const char* v = std::getenv("TORCHELASTIC_USE_AGENT_STORE");
  return v != nullptr && std::string(v) == "True";
}

std::string store_prefix() {
  const char* attempt = std::getenv("TORCHELASTIC_RESTART_COUNT");
  return agent_serves_store() ? std::string("/worker/attempt_") + (attempt ? attempt : "0") + "/" : "";
}

c10::intrusive_ptr<c10d::Store> connect_store(const LaunchEnv& env, bool wait_for_all, std::chrono::milliseconds timeout) {
  c10d::TCPStoreOptions opts;
  opts.port = static_cast<std::uint16_t>(env.master_port);
  opts.isServer = env.rank == 0 && wait_for_all && !agent_serves_store();
  if (wait_for_all) opts.numWorkers = static_cast<std::size_t>(env.world_size);
  opts.waitWorkers = wait_for_all;
  opts.timeout = timeout;
  c10::intrusive_ptr<c10d::Store> tcp = c10::make_intrusive<c10d::TCPStore>(env.master_addr, opts);
  const std::string prefix = store_prefix();
  if (prefix.empty()) return tcp;
  return c10::make_intrusive<c10d::PrefixStore>(prefix, tcp);
}

std::string first_line(const std::string& s) { return s.substr(0, s.find('\n')); }

}  // namespace dist_detail

LaunchEnv read_launch_env() {
  using dist_detail::env_int;
  LaunchEnv env;
  env.world_size = env_int("WORLD_SIZE", 1);
  require(env.world_size >= 1, "WORLD_SIZE=0", "WORLD_SIZE is the number of processes, at least 1");
  env.rank = env_int("RANK", 0);
  env.local_rank = env_int("LOCAL_RANK", env.rank);
  require(env.rank < env.world_size,
          "RANK=" + std::to_string(env.rank) + " is not below WORLD_SIZE=" + std::to_string(env.world_size),
          "ranks are 0 .. WORLD_SIZE-1");
  if (const char* addr = std::getenv("MASTER_ADDR"); addr && *addr) env.master_addr = addr;
  env.master_port = env_int("MASTER_PORT", env.master_port);
  require(env.master_port > 0 && env.master_port < 65536, "MASTER_PORT=" + std::to_string(env.master_port) +
                                                              " is not a TCP port", "use a free port in 1..65535");
  if (env.world_size > 1)
    require(std::getenv("MASTER_ADDR") != nullptr && std::getenv("MASTER_PORT") != nullptr,
            "WORLD_SIZE=" + std::to_string(env.world_size) + " without MASTER_ADDR and MASTER_PORT",
            "launch with torchrun, or set both (rank 0 listens on MASTER_PORT)");
  return env;
}

std::string distributed_backends() {
#if NABLAGFN_WITH_NCCL
  const bool nccl = true;
#else
  const bool nccl = false;
#endif
#if NABLAGFN_WITH_GLOO
  const bool gloo = true;
#else
  const bool gloo = false;
#endif
  if (nccl && gloo) return "nccl+gloo";
  return nccl ? "nccl" : gloo ? "gloo" : "none";
}

struct Collectives::Impl {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<dist_compat::BackendBase> backend;
  c10::Device comm_device = c10::Device(c10::kCPU);
  std::thread watchdog;
  std::atomic<bool> stop{false};

  ~Impl() { stop_watchdog(); }
  void stop_watchdog() {
    stop = true;
    if (watchdog.joinable()) watchdog.join();
  }

  // Polls the abort key on a connection of its own; ends the process when another rank failed or the
  // store (served by rank 0 or torchrun's agent) went away.
  void start_watchdog(const LaunchEnv& env) {
    auto own = dist_detail::connect_store(env, false, std::chrono::seconds(30));
    watchdog = std::thread([this, own, rank = env.rank, where = env.master_addr + ":" + std::to_string(env.master_port)] {
      while (!stop) {
        std::string failure;
        try {
          if (own->check({dist_detail::kAbortKey})) {
            const std::vector<uint8_t> v = own->get(dist_detail::kAbortKey);
            failure = std::string(v.begin(), v.end());
          }
        } catch (const std::exception& e) {
          if (stop) return;
          failure = "lost the rendezvous store at " + where + " (rank 0 stopped?): " + dist_detail::first_line(e.what());
        }
        if (!failure.empty()) {
          std::fprintf(stderr, "error: rank %d stops because %s\n", rank, failure.c_str());
          std::fflush(stderr);
          std::_Exit(1);
        }
        std::this_thread::sleep_for(dist_detail::kWatchdogPeriod);
      }
    });
  }

  void wait(const c10::intrusive_ptr<c10d::Work>& work, const char* what, const LaunchEnv& env) {
    try {
      work->wait();
    } catch (const std::exception& e) {
      throw Error(std::string("collective '") + what + "' failed on rank " + std::to_string(env.rank) + " of " +
                      std::to_string(env.world_size) + ": " + dist_detail::first_line(e.what()),
                  "another rank stopped (its error is printed above) or took longer than run.dist_timeout");
    }
  }
};

Collectives::Collectives(LaunchEnv env, std::unique_ptr<Impl> impl) : env_(std::move(env)), impl_(std::move(impl)) {}
Collectives::~Collectives() = default;

std::unique_ptr<Collectives> Collectives::join(const LaunchEnv& env, c10::Device device, std::chrono::seconds timeout) {
  if (env.world_size == 1) return std::unique_ptr<Collectives>(new Collectives(env, nullptr));
  auto impl = std::make_unique<Impl>();
  const std::string where = env.master_addr + ":" + std::to_string(env.master_port);
  try {
    impl->store = dist_detail::connect_store(env, true, timeout);
  } catch (const std::exception& e) {
    throw Error("rank " + std::to_string(env.rank) + " could not meet the other " + std::to_string(env.world_size - 1) +
                    " ranks at " + where + ": " + dist_detail::first_line(e.what()),
                "start every rank with the same MASTER_ADDR/MASTER_PORT, and a port nobody else uses");
  }
  auto pg_store = c10::make_intrusive<c10d::PrefixStore>("nablagfn/pg", impl->store);
  if (device.is_cuda()) {
#if NABLAGFN_WITH_NCCL
    c10::cuda::set_device(device.index());
    auto opts = c10d::ProcessGroupNCCL::Options::create();
    opts->timeout = timeout;
    impl->backend = c10::make_intrusive<c10d::ProcessGroupNCCL>(pg_store, env.rank, env.world_size, opts);
    impl->comm_device = device;
#else
    throw Error("training on " + device.str() + " with WORLD_SIZE=" + std::to_string(env.world_size) +
                    ", but this build has no NCCL process group",
                "build against a CUDA libtorch whose include folder has ProcessGroupNCCL.hpp, with nccl.h found");
#endif
  } else {
#if NABLAGFN_WITH_GLOO
    auto opts = c10d::ProcessGroupGloo::Options::create(timeout);
    const char* ifname = std::getenv("GLOO_SOCKET_IFNAME");
    const bool loopback = env.master_addr == "localhost" || env.master_addr.rfind("127.", 0) == 0;
    opts->devices.push_back(ifname && *ifname ? c10d::ProcessGroupGloo::createDeviceForInterface(ifname)
                            : loopback        ? c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1")
                                              : c10d::ProcessGroupGloo::createDefaultDevice());
    impl->backend = c10::make_intrusive<c10d::ProcessGroupGloo>(pg_store, env.rank, env.world_size, opts);
#else
    throw Error("training on the CPU with WORLD_SIZE=" + std::to_string(env.world_size) +
                    ", but this build has no Gloo process group",
                "install libgloo-dev (Debian) and rebuild, or train on CUDA devices (NCCL)");
#endif
  }
  impl->start_watchdog(env);
  return std::unique_ptr<Collectives>(new Collectives(env, std::move(impl)));
}

void Collectives::all_reduce_sum(at::Tensor& t, const char* what) {
  if (!impl_) return;
  at::Tensor buf = t.to(impl_->comm_device).contiguous();
  std::vector<at::Tensor> tensors{buf};
  impl_->wait(impl_->backend->allreduce(tensors), what, env_);
  if (!buf.is_same(t)) t.copy_(buf);
}

void Collectives::broadcast_from_main(at::Tensor& t, const char* what) {
  if (!impl_) return;
  at::Tensor buf = t.to(impl_->comm_device).contiguous();
  std::vector<at::Tensor> tensors{buf};
  c10d::BroadcastOptions opts;
  opts.rootRank = 0;
  impl_->wait(impl_->backend->broadcast(tensors, opts), what, env_);
  if (!buf.is_same(t)) t.copy_(buf);
}

std::vector<at::Tensor> Collectives::all_gather(const at::Tensor& t, const char* what) {
  if (!impl_) return {t};
  at::Tensor buf = t.to(impl_->comm_device).contiguous();
  std::vector<at::Tensor> in{buf};
  std::vector<std::vector<at::Tensor>> out(1);
  for (int r = 0; r < env_.world_size; ++r) out[0].push_back(at::empty_like(buf));
  impl_->wait(impl_->backend->allgather(out, in), what, env_);
  for (auto& o : out[0]) o = o.to(t.device());
  return out[0];
}

void Collectives::barrier(bool final) {
  if (!impl_) return;
  if (final) impl_->stop_watchdog();
  at::Tensor one = at::ones({1}, at::TensorOptions().device(impl_->comm_device));
  all_reduce_sum(one, "barrier");
}

void Collectives::abort(const std::string& message) {
  if (!impl_) return;
  impl_->stop_watchdog();
  const std::string text = "rank " + std::to_string(env_.rank) + " failed: " + dist_detail::first_line(message);
  try {
    impl_->store->set(dist_detail::kAbortKey, std::vector<uint8_t>(text.begin(), text.end()));
    // Rank 0 serves the store: stay long enough for every watchdog to read the key.
    std::this_thread::sleep_for(5 * dist_detail::kWatchdogPeriod);
  } catch (const std::exception&) {
    // The store is gone already (rank 0 stopped first); the other ranks notice that themselves.
  }
}

}  // namespace nablagfn
