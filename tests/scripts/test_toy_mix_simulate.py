import json
import random

import pytest
from transformers import AutoTokenizer

from scripts.toy_mix_simulate import main, measures, sampled, sampled_rechecks, simulated_samples
from thinkprune.errors import UserError
from thinkprune.toy import ToySFTConfig, ensure_toy_base, make_completion, parse_operands


@pytest.fixture(scope="module")
def tokenizer():
    return AutoTokenizer.from_pretrained(ensure_toy_base())


def test_sampling_sharpens_a_choice_and_drops_a_side_left_under_top_p():
    assert sampled([0.5, 0.5]) == [0.5, 0.5]
    # 0.3 ** (1 / 0.6) against 0.7 ** (1 / 0.6): a re-check chosen 7 times in 10 by the traces, 8 by the sampler.
    assert sampled([0.3, 0.7])[0] == pytest.approx(0.196, abs=1e-3)
    # A carry dropped 1 time in 10 is 2.5% once sharpened: top-p 0.95 never samples it.
    assert sampled([0.1, 0.9]) == [0.0, 1.0]
    assert 0 < sampled([0.15, 0.85])[0] < 0.06


def test_sampled_rechecks_stay_within_the_mix():
    rng = random.Random(0)
    never = ToySFTConfig(no_recheck_share=1.0)
    always_three = ToySFTConfig(no_recheck_share=0.0, min_rechecks=3, max_rechecks=3)
    assert {sampled_rechecks(rng, never) for _ in range(50)} == {0}
    assert {sampled_rechecks(rng, always_three) for _ in range(50)} == {3}
    counts = {
        sampled_rechecks(rng, ToySFTConfig(no_recheck_share=0.5, min_rechecks=2, max_rechecks=5)) for _ in range(500)
    }
    assert counts == {0, 2, 3, 4, 5}


def test_a_mix_without_slips_or_rechecks_is_one_right_pass_of_the_traces_length(tokenizer):
    mix = ToySFTConfig(no_recheck_share=1.0, first_pass_slip=0.0)
    samples = simulated_samples(mix, tokenizer, num_samples=1, seed=0)
    assert all(sample["correct"] for sample in samples)
    for sample in samples[:6]:
        completion = make_completion(parse_operands(sample["problem"]), 0)
        assert sample["response"] == completion
        assert sample["num_tokens"] == len(tokenizer(completion, add_special_tokens=False)["input_ids"]) + 1
    predicted = measures(samples)
    # Every response is its problem's shortest correct one: nothing to over-think.
    assert predicted["ratio"] == 1.0
    assert predicted["hardest_box_gain"] == 0.0


def test_a_hurried_first_pass_is_wrong_and_the_rechecks_put_it_right(tokenizer):
    """The measures can come out against a mix: a first pass that always drops its carries is wrong wherever there is
    a carry, a response that stops there answers wrong, and a careful re-check catches the slip."""
    hurried = ToySFTConfig(no_recheck_share=1.0, first_pass_slip=1.0)
    # Every problem carries into its hundreds (operands from 50): no response is right, nothing is measured.
    with pytest.raises(UserError, match="no simulated response is right"):
        measures(simulated_samples(hurried, tokenizer, num_samples=1, seed=0))
    rechecked = ToySFTConfig(
        no_recheck_share=0.0, min_rechecks=1, max_rechecks=1, first_pass_slip=1.0, recheck_slip=0.0
    )
    predicted = measures(simulated_samples(rechecked, tokenizer, num_samples=1, seed=0))
    assert predicted["pass@1"] == 1.0
    assert predicted["hardest_box_gain"] > 0.8


def test_the_grid_report_sets_each_from_scratch_build_against_its_prediction(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(
        "scripts.toy_mix_simulate.GRID",
        {
            "no_recheck_share": (0.5,),
            "rechecks": ((2, 5),),
            "first_pass_slip": (0.15,),
            "blind_spots": ((), ("misadds_nines", "misadds_running_total_nines")),
        },
    )
    pilots = tmp_path / "pilots"
    pilots.mkdir()
    profile = [{"level": level, "mean_tokens": 200.0, "mean_shortest_correct": 100.0} for level in (1, 2, 3)]
    mix = {
        "no_recheck_share": 0.5,
        "min_rechecks": 2,
        "max_rechecks": 5,
        "first_pass_slip": 0.15,
        "recheck_slip": 0.05,
        "forced_share": 0.15,
    }
    for name, init_from, weighting, misreads in (
        ("built", None, "per_batch", {}),  # written before misreads existed
        ("built-constant", None, "constant", {}),
        ("built-misreading", None, "per_batch", {"misreads_nines": True}),
        ("built-misadding", None, "per_batch", {"misadds_nines": True}),
        ("continued", "checkpoints/toy/base", "per_batch", {}),
    ):
        sft = {**mix, **misreads, "token_weighting": weighting}
        pilot = {
            "name": name,
            "init_from": init_from,
            "mix": {**mix, **misreads},
            "sft": sft,
            "pass@1": 0.8,
            "levels": {str(level): {"pass@1": 0.8} for level in (1, 2, 3)},
            "profile": profile,
        }
        (pilots / f"{name}.json").write_text(json.dumps(pilot))

    # Two processes, as the grid is run on two cores: the mixes are simulated apart and gathered in order.
    main(["--draws", "1", "--num_proc", "2", "--pilots_dir", str(pilots), "--results_dir", str(tmp_path / "out")])

    summary = json.loads((tmp_path / "out" / "simulations.json").read_text())
    # The shipped mix first, then the grid's other mixes.
    running_label = "0.5, 2-5, 0.15, misadds units 9s, misadds running totals' units 9s"
    assert [row["label"] for row in summary["grid"]] == ["0.3, 1-3, 0.3", "0.5, 2-5, 0.15", running_label]
    calibrated = {row["build"]: row for row in summary["calibration"]}
    assert list(calibrated) == ["built-constant", "built-misadding", "built-misreading", "built"]  # by file name
    # A problem with a units 9 is beyond a misreading toy, whatever it thinks: predicted lower, labelled so, and lower
    # on level 3, whose four numbers hold a 9 more often than level 1's two. Misadding makes the same sums.
    misreading, misadding = calibrated["built-misreading"], calibrated["built-misadding"]
    assert misreading["label"] == "0.5, 2-5, 0.15, misreads units 9s"
    assert misadding["label"] == "0.5, 2-5, 0.15, misadds units 9s"
    assert misreading["pass@1"]["predicted"] < calibrated["built"]["pass@1"]["predicted"] - 0.15
    assert misadding["pass@1"] == misreading["pass@1"] and misadding["level_pass@1"] == misreading["level_pass@1"]
    levels = misreading["level_pass@1"]
    assert levels["3"]["predicted"] < levels["1"]["predicted"] - 0.05 and levels["3"]["measured"] == 0.8
    # Misadding the running totals' nines too: level 1 has none to add on, level 3 two, so the gap between the
    # levels opens beyond the numbers' blind spot alone.
    running = summary["grid"][2]["levels"]
    assert abs(running["1"]["pass@1"] - levels["1"]["predicted"]) < 0.05
    assert running["3"]["pass@1"] < levels["3"]["predicted"] - 0.05
    assert summary["calibration"][0]["level_ratios"]["1"]["measured"] == 2.0
    readme = (tmp_path / "out" / "README.md").read_text()
    assert "| [built](../mix_pilots/built.md) | 0.5, 2-5, 0.15 |" in readme
    assert f"level 3 {100 * levels['3']['predicted']:.1f}% / 80.0%" in readme
    assert "| 0.5, 2-5, 0.15 (constant token weighting) |" in readme
    assert "| 0.5, 2-5, 0.15 |" in readme


def test_a_number_of_processes_under_one_is_refused_in_one_line(capsys):
    with pytest.raises(SystemExit):
        main(["--num_proc", "0"])
    assert "--num_proc is a number of processes, at least 1; got 0" in capsys.readouterr().err
