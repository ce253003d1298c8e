#!/usr/bin/env bash
# The GPU check in one command, on a machine with a CUDA GPU: make test-gpu, then make bench-gpu, within BUDGET
# seconds (default 570, under 10 minutes). The GPU JSON lands in benchmarks/results/ (throughput_gpu.json, written
# after each section so a run out of time keeps what it measured, and engines_gpu.json); the output of both goes to
# benchmarks/results/gpu_check.log too. Set up once beforehand, outside the budget: make setup ENGINE=gpu.
#
#   cluster/gpu_check.sh     exit 0: both passed; 1: one failed or ran out of time; 2: no GPU or no setup
set -uo pipefail
cd "$(dirname "$0")/.."
BUDGET=${BUDGET:-570}
TESTS=${TESTS:-210}  # at most this much of BUDGET for make test-gpu
LOG=benchmarks/results/gpu_check.log

nvidia-smi -L >/dev/null 2>&1 || { echo "error: gpu_check needs a CUDA GPU (nvidia-smi sees none)"; exit 2; }
[ -f .venv/.installed ] || { echo "error: set up first (it downloads packages): make setup ENGINE=gpu"; exit 2; }
mkdir -p benchmarks/results
exec > >(tee "$LOG") 2>&1
started=$SECONDS
nvidia-smi -L

timeout -k 20 "$TESTS" make test-gpu PYTEST_ARGS='-rs --durations=10'
tests=$?
left=$((BUDGET - (SECONDS - started) - 30))  # 30 s for a clean stop
if [ "$left" -gt 60 ]; then
  timeout -s INT -k 30 "$left" make bench-gpu  # SIGINT first: the benchmark's Ray shuts down cleanly
  bench=$?
else
  echo "no time left for make bench-gpu"
  bench=124
fi

describe() { case $1 in 0) echo passed ;; 124) echo "ran out of time" ;; *) echo "failed (exit $1)" ;; esac; }
echo "make test-gpu $(describe $tests), make bench-gpu $(describe $bench), $((SECONDS - started)) s in all"
ls -l benchmarks/results/*_gpu.json 2>/dev/null
[ "$tests" = 0 ] && [ "$bench" = 0 ]
