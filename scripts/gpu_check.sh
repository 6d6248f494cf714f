#!/usr/bin/env bash
# The GPU check in one command, from this checkout, on a machine with a CUDA GPU (about 5-8 minutes): runs
# scripts/gpu_check.py at R1-Distill-Qwen-1.5B's size and writes results/gpu_check/gpu.json. Nothing is installed
# into the machine's Python, so its own CUDA torch is kept. vLLM is used where it is installed, else transformers.
# On an air-gapped node, bring the wheels scripts/prepare_wheelhouse.py made on a connected machine from the node's
# `python -m pip list --format=freeze` (what it lacks, or has at a version that does not fit):
#   WHEELHOUSE=wheelhouse bash scripts/gpu_check.sh
# they are unpacked into .gpu_check_site/, put on PYTHONPATH ahead of the machine's own packages.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ -n "${WHEELHOUSE:-}" ]]; then
    python -m pip install --quiet --no-index --no-deps --upgrade --target .gpu_check_site "$WHEELHOUSE"/*.whl
    export PYTHONPATH="$PWD/.gpu_check_site${PYTHONPATH:+:$PYTHONPATH}"
fi
python scripts/gpu_check.py --full_size true --output results/gpu_check/gpu.json "$@"
