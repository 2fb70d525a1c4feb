#!/usr/bin/env bash
# Builds and runs the GPU checks and the sampling benchmark on a CUDA machine with PyTorch installed,
# from the repository root. Logs and results go to ${OUT:-bench-out}/.
#   bash bench/run_gpu.sh [stage...]   stages: build test bench python profile training (default: all, in order)
# BENCH_ARGS / PY_ARGS pass extra arguments to bench_sampling / python_reference.py, TRAIN_ARGS to
# bench_training.
set -uo pipefail
OUT=${OUT:-bench-out}
BUILD=${BUILD:-build-gpu}
mkdir -p "$OUT"
stages=("$@")
[ ${#stages[@]} -eq 0 ] && stages=(build test bench python profile training)
export PYTHONUNBUFFERED=1

for stage in "${stages[@]}"; do
  case $stage in
    build)
      nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv | tee "$OUT/gpu.txt"
      prefix=$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)')
      cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DNABLAGFN_BUILD_BENCH=ON -DNABLAGFN_BUILD_TESTS=ON \
        -DCMAKE_PREFIX_PATH="$prefix" >"$OUT/cmake.log" 2>&1 || { tail -30 "$OUT/cmake.log"; exit 1; }
      ninja -C "$BUILD" -k 0 -j"$(nproc)" bench_sampling bench_profile bench_training test_sampling_gpu test_kernels_gpu test_train_gpu \
        >"$OUT/build.log" 2>&1
      grep -E 'error|FAILED' "$OUT/build.log" | head -30
      tail -3 "$OUT/build.log"
      ;;
    test)
      (cd "$BUILD" && ctest -L gpu --output-on-failure) >"$OUT/test.txt" 2>&1
      grep -E '^\[ +(OK|FAILED|PASSED) |Test +#|tests passed|tests failed' "$OUT/test.txt" ;;
    bench)
      "./$BUILD/bench/bench_sampling" ${BENCH_ARGS:-} 2>&1 | tee "$OUT/bench.txt" ;;
    python)
      timeout 240 python3 bench/python_reference.py --profile ${PY_ARGS:-} 2>&1 | tee "$OUT/python.txt" | grep -v '^bench=profile_python ' ;;
    profile)
      for flags in "--merge-lora" "--merge-lora --channels-last"; do  # the second runs the fused kernels
        "./$BUILD/bench/bench_profile" $flags 2>&1 >>"$OUT/profile.txt"
      done
      grep -A12 profile_total "$OUT/profile.txt" | cut -c1-220 ;;
    training)
      "./$BUILD/bench/bench_training" ${TRAIN_ARGS:-} 2>&1 | tee "$OUT/training.txt"
      timeout 300 python3 bench/python_training_reference.py 2>&1 | tee "$OUT/training_python.txt" ;;
    *)
      echo "unknown stage $stage"; exit 2 ;;
  esac
done
