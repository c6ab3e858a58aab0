#!/usr/bin/env bash
# This library against PyTorch on the same CPU, measured side by side in one run.
#
#   benchmarks/compare_train_step.sh            # after ./run build; needs Debian's python3-torch
#   THREADS=2 ROUNDS=3 PROPAGATION_ROUNDS=2 benchmarks/compare_train_step.sh
#
# Builds nothing. Runs, on THREADS threads each:
#   1. build/benchmarks/bench_gemm: this machine's SGEMM rate (the yardstick for the model's FLOP rate);
#   2. the SiamMAE training step (build/benchmarks/bench_train_step) and its PyTorch twin
#      (benchmarks/train_step_torch.py), alternating A B A B for ROUNDS rounds, for the tiny and
#      small presets at batch 8 and 32; per line: the median pairs/s of each, the median of the
#      per-round ratios, each program's peak memory, and our model GFLOP/s as a share of the
#      SGEMM rate;
#   3. label propagation at 480p (build/benchmarks/bench_propagation against
#      benchmarks/propagation_torch.py): encoder features plus one step with a full context, in
#      frames per second, for the tiny and small encoders.
# Ratios are the figures to compare across machines; absolute rates differ from CPU to CPU.
# For PyTorch's BLAS to be OpenBLAS with OpenMP, install libopenblas0-openmp.
set -euo pipefail
cd "$(dirname "$0")/.."
threads=${THREADS:-2}
rounds=${ROUNDS:-3}
propagation_rounds=${PROPAGATION_ROUNDS:-2}
python=/usr/bin/python3
for program in build/benchmarks/bench_gemm build/benchmarks/bench_train_step build/benchmarks/bench_propagation; do
  [ -x "$program" ] || { echo "compare_train_step: $program is missing; run ./run build first" >&2; exit 1; }
done
"$python" -c "import torch" 2>/dev/null || { echo "compare_train_step: $python has no torch (apt-get install python3-torch)" >&2; exit 1; }
export OMP_NUM_THREADS=$threads

median() { sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
# The number just before a word in a line: field_before "pairs/s" <<< "... = 27.5 pairs/s, ..." -> 27.5
field_before() { grep -o "[0-9.]* $1" | head -1 | cut -d' ' -f1; }

echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(nproc) cores," \
     "AVX-512 $(grep -q avx512f /proc/cpuinfo && echo yes || echo no); $threads threads; $(date -u +%Y-%m-%dT%H:%MZ)"
echo "PyTorch $("$python" -c 'import torch; print(torch.__version__)'), OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset}"
echo
echo "== SGEMM (build/benchmarks/bench_gemm --threads $threads)"
gemm=$(build/benchmarks/bench_gemm --threads "$threads")
echo "$gemm"
peak=$(field_before "GFLOP/s" <<< "$(grep 'SGEMM peak' <<< "$gemm")")
echo
echo "== Model FLOPs (bench_train_step --formula)"
build/benchmarks/bench_train_step --formula
echo
echo "== Training step: $rounds rounds, A = this library, B = PyTorch, alternating"
printf '%-6s %5s | %12s %12s %7s | %9s %9s | %10s %8s\n' preset batch "ours pairs/s" "torch pairs/s" ratio \
       "ours MB" "torch MB" "ours GFLOP/s" "of SGEMM"
for preset in tiny small; do
  for batch in 8 32; do
    ours=() torch=() ratios=() ours_mb=() torch_mb=() gflops=()
    for ((round = 0; round < rounds; ++round)); do
      a=$(build/benchmarks/bench_train_step --config "$preset" --batch "$batch" --threads "$threads")
      b=$("$python" benchmarks/train_step_torch.py --config "$preset" --batch "$batch" --threads "$threads")
      ours+=("$(field_before pairs/s <<< "$a")") torch+=("$(field_before pairs/s <<< "$b")")
      ours_mb+=("$(field_before MB <<< "$a")") torch_mb+=("$(field_before MB <<< "$b")")
      gflops+=("$(field_before "model GFLOP/s" <<< "$a")")
      ratios+=("$(awk -v x="${ours[-1]}" -v y="${torch[-1]}" 'BEGIN {printf "%.3f", x / y}')")
    done
    g=$(printf '%s\n' "${gflops[@]}" | median)
    printf '%-6s %5s | %12.1f %12.1f %6.2fx | %9.0f %9.0f | %10.1f %7.0f%%\n' "$preset" "$batch" \
      "$(printf '%s\n' "${ours[@]}" | median)" "$(printf '%s\n' "${torch[@]}" | median)" \
      "$(printf '%s\n' "${ratios[@]}" | median)" "$(printf '%s\n' "${ours_mb[@]}" | median)" \
      "$(printf '%s\n' "${torch_mb[@]}" | median)" "$g" "$(awk -v g="$g" -v p="$peak" 'BEGIN {print 100 * g / p}')"
  done
done
echo
echo "== Label propagation at 480x848: $propagation_rounds rounds, alternating (encoder + one step, full context)"
printf '%-6s %-8s | %14s %14s %7s | %9s %9s\n' preset grid "ours frames/s" "torch frames/s" ratio "ours MB" "torch MB"
for preset in tiny small; do
  ours=() torch=() ratios=() ours_mb=() torch_mb=() grid=""
  for ((round = 0; round < propagation_rounds; ++round)); do
    a=$(build/benchmarks/bench_propagation --preset "$preset" --frames 2 --threads "$threads" | grep "^$preset ")
    b=$("$python" benchmarks/propagation_torch.py --preset "$preset" --frames 1 --threads "$threads" | grep "^$preset ")
    grid=$(awk '{print $2}' <<< "$a")
    ours+=("$(awk '{print $5}' <<< "$a")") torch+=("$(awk '{print $5}' <<< "$b")")
    ours_mb+=("$(awk '{print $6}' <<< "$a")") torch_mb+=("$(awk '{print $6}' <<< "$b")")
    ratios+=("$(awk -v x="${ours[-1]}" -v y="${torch[-1]}" 'BEGIN {printf "%.3f", x / y}')")
  done
  printf '%-6s %-8s | %14.3f %14.3f %6.1fx | %9.0f %9.0f\n' "$preset" "$grid" \
    "$(printf '%s\n' "${ours[@]}" | median)" "$(printf '%s\n' "${torch[@]}" | median)" \
    "$(printf '%s\n' "${ratios[@]}" | median)" "$(printf '%s\n' "${ours_mb[@]}" | median)" \
    "$(printf '%s\n' "${torch_mb[@]}" | median)"
done
