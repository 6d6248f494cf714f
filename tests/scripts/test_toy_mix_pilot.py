"""The toy mix pilot: the shipped base trained further on a candidate mix, then measured as the study measures it."""

import json

import pytest
import torch
from safetensors.torch import load_file

from scripts.toy_mix_pilot import main


def test_a_name_that_is_not_a_file_name_is_refused_in_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--name", "a/b", "--results_dir", str(tmp_path)])
    error = capsys.readouterr().err
    assert exit_info.value.code == 2 and "--name is a file name without '/'" in error and error.count("\n") == 1
    assert not any(tmp_path.iterdir())


def test_a_longer_context_is_a_copy_of_the_base_which_is_left_as_it_is(tmp_path):
    from transformers import AutoConfig, AutoTokenizer

    from scripts.toy_mix_pilot import with_context
    from thinkprune.paths import TOY_CHECKPOINTS

    base = TOY_CHECKPOINTS / "base"
    assert with_context(base, 1024, tmp_path / "copy") == base and not (tmp_path / "copy").exists()
    copy = with_context(base, 1280, tmp_path / "copy")
    assert AutoConfig.from_pretrained(copy).max_position_embeddings == 1280
    assert AutoTokenizer.from_pretrained(copy).model_max_length == 1280
    assert AutoConfig.from_pretrained(base).max_position_embeddings == 1024
    copied, shipped = load_file(copy / "model.safetensors"), load_file(base / "model.safetensors")
    assert all(torch.equal(copied[name], shipped[name]) for name in shipped)


@pytest.mark.slow
def test_a_pilot_trains_the_base_on_the_mix_and_reports_the_testbed(tmp_path, capsys):
    from thinkprune.paths import TOY_CHECKPOINTS

    common = ["--work_dir", str(tmp_path / "work"), "--results_dir", str(tmp_path / "results")]
    tiny = [
        "--max_steps",
        "2",
        "--num_train_problems",
        "16",
        "--limit",
        "9",
        "--num_samples",
        "2",
        "--context",
        "1100",
    ]
    summary = main(["--name", "stop50", "--no_recheck_share", "0.5", *tiny, *common])

    trained = load_file(tmp_path / "work" / "stop50" / "model" / "model.safetensors")
    shipped = load_file(TOY_CHECKPOINTS / "base" / "model.safetensors")
    assert trained.keys() == shipped.keys()
    assert any(not torch.equal(trained[name], shipped[name]) for name in trained)

    # The record says what the pilot model is: the base's architecture at the pilot's context.
    record = json.loads((tmp_path / "work" / "stop50" / "model" / "toy_record.json").read_text())
    assert record["model"]["max_position_embeddings"] == 1100 and record["model"]["hidden_size"] == 128

    written = json.loads((tmp_path / "results" / "stop50.json").read_text())
    assert written == json.loads(json.dumps(summary))
    assert written["mix"]["no_recheck_share"] == 0.5 and written["sft"]["max_steps"] == 2
    assert len(written["testbed"]) == 8  # the response properties; the build's time and size are a build's
    assert [level["level"] for level in written["profile"]] == ["1", "2", "3"]
    index = (tmp_path / "results" / "README.md").read_text()
    assert "| [stop50](stop50.md) | 0.5, 1-3, 0.3 (context 1100) |" in index

    # The same pilot again reuses its model and its evaluation: their times are the first run's, not the reuse's.
    again = main(["--name", "stop50", "--no_recheck_share", "0.5", *tiny, *common])
    assert (again["train_seconds"], again["eval_seconds"]) == (written["train_seconds"], written["eval_seconds"])

    # The same name for another mix would mix two pilots' files: refused, the first pilot's report kept.
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        main(["--name", "stop50", "--no_recheck_share", "0.7", *tiny, *common])
    error = capsys.readouterr().err
    assert exit_info.value.code == 2 and "was trained on another mix" in error and error.count("\n") == 1
    assert json.loads((tmp_path / "results" / "stop50.json").read_text()) == written


@pytest.mark.slow
def test_a_pilot_from_scratch_is_a_build_of_the_mix_marked_in_the_index(tmp_path, capsys):
    common = ["--work_dir", str(tmp_path / "work"), "--results_dir", str(tmp_path / "results"), "--context", "1100"]
    # Every SFT setting given: the two runs below differ only in where they start.
    sft = ["--max_steps", "2", "--num_train_problems", "16", "--learning_rate", "3e-3", "--warmup_steps", "30"]
    sft += ["--seed", "0", "--limit", "9", "--num_samples", "2"]
    summary = main(["--name", "scratch", "--from_scratch", "--max_rechecks", "4", *sft, *common])

    record = json.loads((tmp_path / "work" / "scratch" / "model" / "toy_record.json").read_text())
    assert "init_from" not in record and summary["init_from"] is None
    assert record["model"]["max_position_embeddings"] == 1100 and record["sft"]["max_rechecks"] == 4
    index = (tmp_path / "results" / "README.md").read_text()
    assert "| [scratch](scratch.md) | 0.3, 1-4, 0.3 (context 1100, from scratch: 2 steps in 0 min) |" in index
    report = (tmp_path / "results" / "scratch.md").read_text()
    assert "A toy base built from scratch in 2 steps" in report and "pass@1 by level: 1 " in report
    assert list(summary["levels"]) == ["1", "2", "3"] and set(summary["levels"]["3"]) == {
        "pass@1",
        "pass@1_ci",
        "mean_tokens",
    }

    # A model trained before --token_weighting and the blind spots existed (its record without them) weighed tokens
    # per batch and misread and misadded nothing, as this one: reused, not refused as another mix.
    record_path = tmp_path / "work" / "scratch" / "model" / "toy_record.json"
    del record["sft"]["token_weighting"], record["sft"]["misreads_nines"], record["sft"]["misadds_nines"]
    record_path.write_text(json.dumps(record))
    again = main(["--name", "scratch", "--from_scratch", "--max_rechecks", "4", *sft, *common])
    assert json.loads(json.dumps(again)) == json.loads(json.dumps(summary))

    # Without --from_scratch the same name would be the shipped base trained further: refused, the build kept.
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        main(["--name", "scratch", "--max_rechecks", "4", *sft, *common])
    error = capsys.readouterr().err
    assert exit_info.value.code == 2 and "trained on another mix, context or start" in error
    assert json.loads((tmp_path / "results" / "scratch.json").read_text()) == json.loads(json.dumps(summary))


def test_a_pilot_from_scratch_keeps_the_builds_sft_defaults(monkeypatch):
    """A continuation's defaults (800 steps at a lower learning rate) would make a from-scratch pilot a different
    build from `python -m thinkprune.toy` on the same mix."""
    import scripts.toy_mix_pilot as pilot_script
    from thinkprune.toy import ToySFTConfig

    seen = {}

    def stop(model_dir, sft, *args, **kwargs):
        seen["sft"] = sft
        raise SystemExit(0)

    monkeypatch.setattr(pilot_script, "train_base", stop)
    for argv, expected in (
        (["--name", "b", "--from_scratch", "--work_dir", "/nonexistent"], ToySFTConfig()),
        (["--name", "c", "--work_dir", "/nonexistent"], ToySFTConfig(**pilot_script.PILOT_SFT_DEFAULTS)),
    ):
        with pytest.raises(SystemExit):
            main(argv)
        assert seen.pop("sft") == expected


def test_the_blind_spot_is_measured_on_the_problems_it_decides():
    """Whether a build learned its blind spot: on a problem holding a 9, how often the first and the last box are the
    sum its traces box there (a wrong answer alone would not tell the blind spot from any other mistake)."""
    from scripts.toy_mix_pilot import blind_spot_boxes
    from thinkprune.toy import ToySFTConfig, problem_text, thinking_passes

    def sample(operands, passes):
        return {"problem": problem_text(operands), "level": len(operands) - 1, "response": "\n".join(passes)}

    as_traced = thinking_passes((79, 57), 1, misadds_nines=True)
    as_given = thinking_passes((79, 57), 1)
    samples = [
        sample((79, 57), as_traced),
        sample((79, 57), [as_given[0], as_traced[1]]),  # the true sum first, then the blind spot's
        sample((79, 57), ["no box"]),
        sample((51, 62), thinking_passes((51, 62), 0)),  # no 9: not the blind spot's problem
        sample((51, 62, 99), thinking_passes((51, 62, 99), 0, misadds_nines=True)),
    ]
    assert blind_spot_boxes(samples, ToySFTConfig(misadds_nines=True)) == {
        "1": {"responses": 3, "first": 1 / 3, "last": 2 / 3},
        "2": {"responses": 1, "first": 1.0, "last": 1.0},
    }
    # A running total's blind spot depends on the order: 52 + 57 = 109 makes the first pass box 166 (60 added to a
    # 106), where the reverse order boxes the true 169. A last box is judged in the order of the pass that made it.
    running = ToySFTConfig(misadds_running_total_nines=True)
    forward, reverse = thinking_passes((52, 57, 60), 1, misadds_running_total_nines=True)
    samples = [
        sample((52, 57, 60), [forward, reverse]),
        sample((52, 57, 60), [forward, forward]),  # a second pass in the first's order: not what its traces box
        sample((79, 57), thinking_passes((79, 57), 0)),  # a number's 9 is not this blind spot's
    ]
    assert blind_spot_boxes(samples, running) == {"2": {"responses": 2, "first": 1.0, "last": 0.5}}


def test_a_build_is_labelled_by_how_its_sft_differs_from_the_builds_defaults():
    """A replication with another seed, or SFT batches grouped by length, is told apart from its original in the
    index and the calibration."""
    from scripts.toy_mix_pilot import build_notes

    assert build_notes({"token_weighting": "per_batch", "learning_rate": 3e-3, "seed": 0}) == []
    assert build_notes({"token_weighting": "constant", "learning_rate": 1.5e-3, "seed": 1}) == [
        "constant token weighting",
        "learning rate 0.0015",
        "seed 1",
    ]
    assert build_notes({"token_weighting": "constant", "group_by_length": True}) == [
        "constant token weighting",
        "batches grouped by length",
    ]
