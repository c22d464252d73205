#!/usr/bin/env bash
# Every GPU figure of the study in one run on a borrowed GPU (about eight minutes):
#   bash bench/gpu_check.sh [folder for the logs]
# Each part has its own time limit, so one that hangs or fails leaves the others' figures.
set -u
out=${1:-${OUT:-/tmp}}
python=${PYTHON:-python3}
export PYTHONPATH="$PWD/src" PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
"$python" -c 'import torch, torchvision; print("torch", torch.__version__, "torchvision", torchvision.__version__)'
(cd bench && timeout 90 "$python" gpu_paths.py) 2>&1 | tee "$out/gpu_paths.log"
for batch in 16 64; do  # ~1,500 timed images each: at batch 16, 30 steps were too noisy
  (cd bench && timeout 200 "$python" gpu_throughput.py --batch "$batch" --steps $((1500 / batch + 5))) 2>&1 \
    | grep -v Warning | tee "$out/gpu_throughput_batch$batch.log"
done
# The CUDA tests (skipped where there is no GPU), then the unit tests that need neither
# Kedro nor MLflow, under this machine's torch.
timeout 90 "$python" -m pytest -q -p no:cacheprovider tests/test_cuda.py tests/test_data.py \
  tests/test_training.py tests/test_distributed.py tests/test_losses.py tests/test_models.py \
  2>&1 | tail -30 | tee "$out/gpu_tests.log"
