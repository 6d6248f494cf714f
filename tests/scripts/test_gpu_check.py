"""scripts/gpu_check.py, CPU-sized: the step and both evaluations run and report; the GPU run is its own script."""

import json

import pytest

from scripts import gpu_check
from scripts.gpu_check import main


@pytest.mark.slow
def test_cpu_variant_trains_one_step_and_compares_the_evaluations(tmp_path):
    report = main(
        [
            "--full_size",
            "false",
            "--eval_problems",
            "4",
            "--eval_max_new_tokens",
            "32",
            "--output",
            str(tmp_path / "cpu.json"),
        ]
    )
    assert json.loads((tmp_path / "cpu.json").read_text()) == report
    step = report["train_step"]
    assert (step["rollouts"], step["token_limit"], step["generation"]) == (16, 64, "transformers")
    assert step["tokens_generated"] > 0 and step["tokens_per_second"] > 0 and step["peak_gpu_memory_gib"] is None
    runs = report["evaluation"]["runs"]
    assert report["evaluation"]["finished_and_tokens_agree"] and len(runs[0]["num_tokens"]) == 4
    assert runs[0]["tokens_per_second"] > 0 and runs[0]["peak_gpu_memory_gib"] is None
    assert report["data_parallel"] is None  # 1 vs all GPUs: only with several


def test_full_size_needs_a_gpu(monkeypatch):
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    with pytest.raises(SystemExit) as exit_:
        main(["--full_size", "true"])
    assert exit_.value.code == 2


def test_a_local_checkpoint_must_be_a_directory_with_a_config(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--full_size", "false", "--model", str(tmp_path / "R1-Distill-Qwen-1.5B")])
    assert exit_.value.code == 2
    assert "is not a local checkpoint (no config.json): pass its directory" in capsys.readouterr().err


def test_on_a_gpu_the_step_and_each_evaluation_run_in_a_process_of_their_own(monkeypatch):
    """vLLM starts an engine only where 90% of the GPU is free: the step's weights and optimizer states, or the first
    evaluation's engine, kept by the checking process would refuse the next engine."""
    apart = []

    def run_apart(function, *args):
        apart.append(function.__name__)
        return function(*args)

    def train_one_step(*args):
        return {"generation": "vllm colocate"}

    def evaluate_with(backend, *args):
        return {"finished": [True, False], "num_tokens": [3, 32]}

    monkeypatch.setattr(gpu_check, "run_apart", run_apart)
    monkeypatch.setattr(gpu_check, "train_one_step", train_one_step)
    monkeypatch.setattr(gpu_check, "evaluate_with", evaluate_with)
    monkeypatch.setattr(gpu_check, "write_stand_ins", lambda root, seed, full_size: (root / "model", root / "p.jsonl"))
    monkeypatch.setattr(gpu_check, "vllm_available", lambda: True)
    monkeypatch.setattr("torch.cuda.is_available", lambda: True)
    monkeypatch.setattr("torch.cuda.device_count", lambda: 1)
    monkeypatch.setattr("torch.cuda.get_device_name", lambda: "a stand-in GPU")
    report = main([])
    assert apart == ["train_one_step", "evaluate_with", "evaluate_with"]
    assert report["evaluation"]["backends"] == ["vllm", "transformers"]


def test_a_step_with_a_limit_over_the_recipes_gets_a_vllm_context_that_holds_it(tmp_path, monkeypatch):
    """The recipe's engine context (768 + 4000) would refuse --token_limit 6000: the check sizes it for the limit."""
    seen = {}

    def stop(argv):
        seen["argv"] = argv
        raise SystemExit(0)

    monkeypatch.setattr(gpu_check, "vllm_available", lambda: True)
    monkeypatch.setattr(gpu_check.thinkprune_round, "main", stop)
    monkeypatch.setattr("torch.cuda.reset_peak_memory_stats", lambda: None)
    config = gpu_check.GPUCheckConfig(token_limit=6000)
    with pytest.raises(SystemExit):
        gpu_check.train_one_step(tmp_path / "model", tmp_path / "p.jsonl", tmp_path / "round", config, gpu=True)
    argv = seen["argv"]
    assert argv[argv.index("--vllm_max_model_length") + 1] == "6768"
    assert argv[argv.index("--token_limit") + 1] == "6000"
