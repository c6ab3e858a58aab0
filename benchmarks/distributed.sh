#!/usr/bin/env bash
# Data-parallel training on this machine: pairs/s of `siammae train` as 1 rank x 2 threads and as
# 2 ranks x 1 thread (mpirun, one core each), on the same pairs (the same total batch), then the
# all-reduce of one step's gradients alone (bench_allreduce), whose share of a step is the most
# that overlapping it with the backward pass could save. A timed benchmark: run it on a quiet
# machine.
#   benchmarks/distributed.sh [--config tiny] [--batch 32] [--steps 40] [--data DIR] [--build build]
# --batch is each rank's; the single process takes twice as many pairs per step.
set -euo pipefail
cd "$(dirname "$0")/.."
config=tiny batch=32 steps=40 data=../shared/data/pretrain build=build
while [ $# -gt 0 ]; do
  case "$1" in
    --config) config=$2 ;; --batch) batch=$2 ;; --steps) steps=$2 ;; --data) data=$2 ;; --build) build=$2 ;;
    *) echo "usage: $0 [--config C] [--batch B] [--steps N] [--data DIR] [--build DIR]" >&2; exit 2 ;;
  esac
  shift 2
done
[ -d "$data" ] || { echo "skipped: no frame folders at $data (pass --data DIR)"; exit 0; }
command -v mpirun >/dev/null || { echo "needs mpirun (Debian's openmpi-bin)" >&2; exit 1; }
launcher=(mpirun -np 2 --bind-to core)
[ "$(id -u)" -eq 0 ] && launcher+=(--allow-run-as-root)  # Open MPI refuses root without it

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
train=(train --config "$config" --data "$data" --steps "$steps" --eval-every "$steps" --log-every "$steps"
       --warmup 0 --seed 0)
skip=5  # the first steps allocate memory and fill the loader's queue

# Pairs per second over the steps after the first $skip, from log.csv's step and elapsed_s columns.
rate() {  # RUN_DIR PAIRS_PER_STEP
  awk -F, -v skip="$skip" -v pairs="$2" 'NR > 1 { t[$1] = $7; last = $1 }
    END { printf "%.1f", (last - skip) * pairs / (t[last] - t[skip]) }' "$1/log.csv"
}

echo "siammae train --config $config, $steps steps (pairs/s after step $skip), data $data"
"$build/siammae" "${train[@]}" --batch $((2 * batch)) --threads 2 --workers 2 --out "$out/one" >/dev/null
"${launcher[@]}" "$build/siammae" "${train[@]}" --batch "$batch" --threads 1 --workers 1 --out "$out/two" >/dev/null
one=$(rate "$out/one" $((2 * batch))) two=$(rate "$out/two" $((2 * batch)))
echo
echo "| processes | pairs per step | pairs/s | ms per step |"
echo "|---|---|---|---|"
awk -v r="$one" -v p=$((2 * batch)) 'BEGIN { printf "| 1 rank x 2 threads | %d | %.1f | %.0f |\n", p, r, 1000 * p / r }'
awk -v r="$two" -v b="$batch" 'BEGIN { printf "| 2 ranks x 1 thread | 2 x %d | %.1f | %.0f |\n", b, r, 2000 * b / r }'
echo
"${launcher[@]}" "$build/benchmarks/bench_allreduce" --presets "$config"
