#!/usr/bin/env bash
# The speed check's real CUDA path, on a machine with an NVIDIA GPU, in a few minutes: the GPU tests of the
# suite (synchronisation, NVML's per-process samples), then backprop's and vae's speed questions graded on
# the GPU (the reference and an alternative meant to be too slow), with the figures to quote.
# Usage: tests/gpu/run.sh   (from anywhere; needs torch with CUDA, and nvidia-ml-py for the NVML check)
set -euo pipefail
cd "$(dirname "$0")/../.."
export PYTHONPATH=$PWD GRADER_HOME=$PWD
unset GRADER_SIMULATE_CUDA
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
python -c "import torch; assert torch.cuda.is_available(), 'torch sees no GPU'; print('torch', torch.__version__, torch.cuda.get_device_name())"
python -c "import pynvml" 2>/dev/null || echo "warning: no pynvml (pip install nvidia-ml-py): the idle side's GPU use is not checked"
python -m pytest -q -rA tests/test_perf.py tests/test_gpu_activity.py -k "cuda or nvml or gpu"
python tests/gpu/figures.py
