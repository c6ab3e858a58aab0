#!/usr/bin/env bash
# The paper's ablations (SiamMAE, Tables 2-3: frame gap, masking, decoder) at laptop scale.
#
# Each run pretrains the `tiny` preset briefly, then propagates the first-frame masks of the
# bundled DAVIS sequences with its encoder and scores J&F, exactly as `./run demo` does. The
# baseline (the paper's default: gap 4-48, asymmetric random masking at 95 %, cross-self
# decoder) runs with three seeds, which shows how much two runs differ by chance alone. Five
# references train nothing and are scored the same way: the untrained encoder (three
# initializations), raw pixel patches, and the first mask copied to every frame.
# docs/ablations.md holds the numbers one run of this script printed and what they say.
#
#   examples/ablations.sh [OUT]          OUT defaults to runs/ablations
#
# Settings (environment): STEPS (600) and BATCH (16) per run, DATA (data/samples/pretrain);
# DAVIS (data/samples/davis-240p), its RESOLUTION folder (240p) and the short SIZE the frames
# are fed at (240); SIAMMAE (build/siammae; a copy keeps a long run's program fixed while the
# build changes). Each run takes about 3 minutes of CPU time (2.5 to train, 0.75
# to propagate), all 16 about an hour of wall time on 2 cores; a run whose scores exist is
# skipped, so the script continues where it stopped. On a shared machine, run it at low
# priority: nice -n 19 examples/ablations.sh
set -euo pipefail
cd "$(dirname "$0")/.."

out=${1:-runs/ablations}
steps=${STEPS:-600} batch=${BATCH:-16}
data=${DATA:-data/samples/pretrain}
davis=${DAVIS:-data/samples/davis-240p} resolution=${RESOLUTION:-240p} size=${SIZE:-240}
siammae=${SIAMMAE:-build/siammae}
export OMP_WAIT_POLICY=passive  # idle OpenMP threads sleep instead of spinning on a shared machine
[ -x "$siammae" ] || { echo "ablations: $siammae is missing; build first (./run build)" >&2; exit 1; }

# One row per run: name, seed, the flags that differ from the baseline. The table each row
# belongs to is the first word of its name.
runs=(
  "baseline            0"
  "baseline            1"
  "baseline            2"
  "gap-4               0  --gap-min 4 --gap-max 4"
  "gap-8               0  --gap-min 8 --gap-max 8"
  "gap-16              0  --gap-min 16 --gap-max 16"
  "gap-32              0  --gap-min 32 --gap-max 32"
  "asymmetric-0.50     0  --mask-ratio 0.5"
  "asymmetric-0.75     0  --mask-ratio 0.75"
  "asymmetric-0.90     0  --mask-ratio 0.9"
  "symmetric-0.50      0  --symmetric-masking true --mask-ratio 0.5"
  "symmetric-0.50-grid 0  --symmetric-masking true --mask-ratio 0.5 --masking grid"
  "symmetric-0.75      0  --symmetric-masking true --mask-ratio 0.75"
  "symmetric-0.90      0  --symmetric-masking true --mask-ratio 0.9"
  "decoder-cross       0  --decoder cross"
  "decoder-joint       0  --decoder joint"
)

# Propagation without training: name, seed, the features to score instead of a checkpoint.
references=(
  "untrained           0  --features random --seed 0"
  "untrained           1  --features random --seed 1"
  "untrained           2  --features random --seed 2"
  "pixels              0  --features pixels"
  "identity            0  --features identity"
)

# Propagates the bundled DAVIS sequences with the given features into DIR/davis and scores them.
propagate() {
  local dir=$1
  shift
  /usr/bin/time -f %U -o "$dir/propagate-cpu-seconds.part" -- \
    "$siammae" propagate "$@" --davis "$davis" --resolution "$resolution" --size "$size" --out "$dir/davis"
  mv "$dir/propagate-cpu-seconds.part" "$dir/propagate-cpu-seconds"
}

mkdir -p "$out"
results=$out/results.csv
echo "run,seed,flags,final_loss,J&F,J,F,train_cpu_s,propagate_cpu_s" > "$results"
rows=("${runs[@]}" "${references[@]}")
for i in "${!rows[@]}"; do
  read -r name seed flags <<< "${rows[$i]}"
  dir=$out/$name-seed$seed
  scores=$dir/davis/global_results-val.csv
  trains=false
  [ "$i" -lt ${#runs[@]} ] && trains=true
  if [ ! -f "$scores" ]; then
    echo "== $name, seed $seed: ${flags:-(baseline)}"
    rm -rf "$dir" && mkdir -p "$dir"
    if $trains; then
      # shellcheck disable=SC2086  # $flags is a list of flags
      /usr/bin/time -f %U -o "$dir/train-cpu-seconds.part" -- \
        "$siammae" train --config tiny --data "$data" --out "$dir/train" --steps "$steps" --batch "$batch" \
        --blr 4e-3 --warmup 10% --seed "$seed" --eval-every "$steps" --log-every 100 $flags
      mv "$dir/train-cpu-seconds.part" "$dir/train-cpu-seconds"
      propagate "$dir" --checkpoint "$dir/train/checkpoint.safetensors"
    else
      # shellcheck disable=SC2086  # the same
      propagate "$dir" $flags
    fi
  fi
  # The toolkit's columns: J&F-Mean, J-Mean, J-Recall, J-Decay, F-Mean, F-Recall, F-Decay.
  IFS=, read -r jf j _ _ f _ _ < <(sed -n 2p "$scores")
  loss="" train_cpu=""
  if $trains; then
    loss=$(tail -n 20 "$dir/train/log.csv" | awk -F, '{ sum += $3 } END { printf "%.4f", sum / NR }')
    train_cpu=$(cat "$dir/train-cpu-seconds")
  fi
  echo "$name,$seed,${flags:-},$loss,$jf,$j,$f,$train_cpu,$(cat "$dir/propagate-cpu-seconds")" >> "$results"
done

echo
echo "J&F on $davis after $steps steps of $batch pairs on $data (the mean loss of the last 20 steps;"
echo "the references train nothing):"
column -s, -t < "$results"
