#!/usr/bin/env bash
# The GPU check in one command, on a machine with a CUDA GPU (about 5-8 minutes): installs the project with vLLM,
# then runs scripts/gpu_check.py at R1-Distill-Qwen-1.5B's size and writes results/gpu_check/gpu.json.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install -q -e ".[vllm]"
python scripts/gpu_check.py --full_size true --output results/gpu_check/gpu.json "$@"
