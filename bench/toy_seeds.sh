#!/usr/bin/env bash
# How robust is a toy config? Trains each variant once per seed, JOBS runs at a time (one thread each),
# and prints the final tv_modes of every run (and along training) plus, per variant, the mean, the worst and how many runs
# met the issue's bar (tv_modes <= 0.05).
#   bash bench/toy_seeds.sh [-b BIN] [-j JOBS] [-s "0 1 2"] [-o DIR] VARIANT...
# A VARIANT is a config file, optionally followed by overrides after a colon, comma-separated:
#   configs/toy2d_nabla_db.jsonc:train.lr_flow=3e-4,train.n_epochs=1200
set -uo pipefail
BIN=./build/nablagfn
JOBS=$(nproc)
SEEDS="0 1 2 3"
OUTDIR=${OUT:-toy-seeds-out}
while getopts "b:j:s:o:" opt; do
  case $opt in
    b) BIN=$OPTARG ;;
    j) JOBS=$OPTARG ;;
    s) SEEDS=$OPTARG ;;
    o) OUTDIR=$OPTARG ;;
    *) echo "usage: $0 [-b BIN] [-j JOBS] [-s SEEDS] [-o DIR] VARIANT..." >&2; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
[ $# -ge 1 ] || { echo "usage: $0 [-b BIN] [-j JOBS] [-s SEEDS] [-o DIR] VARIANT..." >&2; exit 2; }
[ -x "$BIN" ] || { echo "no executable $BIN: build it first or pass -b" >&2; exit 2; }
mkdir -p "$OUTDIR"
rm -f "$OUTDIR"/v*_s*.result "$OUTDIR"/v*_s*.log

# One line per run: variant index, variant, seed.
jobs_file="$OUTDIR/jobs.txt"
: >"$jobs_file"
i=0
for variant in "$@"; do
  for seed in $SEEDS; do echo "$i $variant $seed" >>"$jobs_file"; done
  i=$((i + 1))
done

run_one() {
  local index=$1 variant=$2 seed=$3
  local config=${variant%%:*} sets=()
  if [[ $variant == *:* ]]; then
    IFS=',' read -ra kv <<<"${variant#*:}"
    for s in "${kv[@]}"; do sets+=(--set "$s"); done
  fi
  local dir="$OUTDIR/v${index}_s${seed}"
  rm -rf "$dir"
  local t0=$SECONDS
  OMP_NUM_THREADS=1 "$BIN" train --config "$config" --out "$dir" --set run.seed="$seed" "${sets[@]}" \
    >"$dir.log" 2>&1
  local rc=$? tv along
  tv=$(grep -o 'tv_modes [0-9.]*' "$dir.log" | tail -1 | cut -d' ' -f2)
  along=$(grep -o '"tv_modes":[0-9.e-]*' "$dir/metrics.jsonl" 2>/dev/null | cut -d: -f2 | xargs printf '%.3f ')
  echo "$index $seed ${tv:-failed(rc=$rc)} $((SECONDS - t0)) $along" >"$dir.result"
}
export -f run_one
export BIN OUTDIR
xargs -P "$JOBS" -L 1 bash -c 'run_one "$@"' _ <"$jobs_file"

printf '%-4s %-6s %-10s %-8s %s\n' var seed tv_modes seconds "tv_modes at each evaluation"
cat "$OUTDIR"/v*_s*.result | sort -n -k1 -k2 | while read -r index seed tv secs along; do
  printf '%-4s %-6s %-10s %-8s %s\n' "$index" "$seed" "$tv" "$secs" "$along"
done
echo
i=0
for variant in "$@"; do
  cat "$OUTDIR"/v${i}_s*.result | awk -v v="$variant" -v i="$i" '
    { n++; if ($3 ~ /^[0-9.]+$/) { s += $3; if ($3 > w) w = $3; if ($3 <= 0.05) ok++ } else bad++ }
    END { printf "v%s  mean %.3f  worst %.3f  <=0.05: %d/%d%s  %s\n", i, (n - bad > 0 ? s / (n - bad) : 0), w,
                 ok, n, (bad ? "  failed: " bad : ""), v }'
  i=$((i + 1))
done
