#!/usr/bin/env bash
# Data-parallel scaling of ∇-DB training on the full-size SD-1.5 UNet (random weights) over NCCL (issue 12):
# builds bench_multi_gpu and runs it under torchrun on 1, 2, 4, 8 GPUs (up to the machine's count or
# the first argument), then prints throughput per GPU and scaling efficiency = throughput per GPU at N /
# throughput at 1 (the global batch is the same at every N). From the repository root:
#   bash bench/run_multi_gpu.sh [max_gpus]        EPOCHS (default 3; epoch 0 is warm-up), OUT, BUILD
set -uo pipefail
export OUT=${OUT:-bench-out}  # bench_multi_gpu writes its run directories under it too
BUILD=${BUILD:-build-gpu}
EPOCHS=${EPOCHS:-3}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/multi_gpu_cards.txt"
n_max=${1:-$(nvidia-smi -L | wc -l)}
prefix=$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)')
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DNABLAGFN_BUILD_BENCH=ON -DNABLAGFN_BUILD_TESTS=OFF \
  -DCMAKE_PREFIX_PATH="$prefix" >"$OUT/multi_gpu_cmake.log" 2>&1 || { tail -30 "$OUT/multi_gpu_cmake.log"; exit 1; }
grep -E "data-parallel|multi-GPU" "$OUT/multi_gpu_cmake.log"
ninja -C "$BUILD" -j"$(nproc)" bench_multi_gpu >"$OUT/multi_gpu_build.log" 2>&1 ||
  { grep -E 'error' "$OUT/multi_gpu_build.log" | head -30; exit 1; }

for n in 1 2 4 8; do
  [ "$n" -le "$n_max" ] || break
  python3 -m torch.distributed.run --standalone --nproc-per-node "$n" --no-python \
    "./$BUILD/bench/bench_multi_gpu" "$EPOCHS" 2>&1 | tee "$OUT/multi_gpu_$n.txt" | grep '^bench='
done

# Efficiency against the 1-GPU line.
grep -h '^bench=multi_gpu_summary' "$OUT"/multi_gpu_[0-9]*.txt | awk '
  { for (i = 1; i <= NF; ++i) { split($i, kv, "="); v[kv[1]] = kv[2] }
    g = v["gpus"]; t[g] = v["traj_per_s_per_gpu"]; d[g] = v["max_weight_diff_across_ranks"]; order[++n] = g }
  END { for (i = 1; i <= n; ++i) { g = order[i]
          printf "gpus=%s traj_per_s_per_gpu=%.4f scaling_efficiency=%s max_weight_diff_across_ranks=%s\n",
                 g, t[g], (1 in t) ? sprintf("%.3f", t[g] / t[1]) : "n/a", d[g] } }' | tee "$OUT/multi_gpu_summary.txt"
