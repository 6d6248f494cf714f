"""scripts/gpu_check.py, CPU-sized: the step and both evaluations run and report; the GPU run is its own script."""

import json

import pytest

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
