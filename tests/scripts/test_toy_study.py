"""The toy study's report: each round against the base (its paired change), and against the base's budget curves at
the round's own mean tokens."""

import pytest
from conftest import budget_rows

from scripts.toy_study import budget_verdict, markdown_table, row, verdict_markdown, verdict_sentence


BASE = {
    "budgets": budget_rows(
        {"truncate": [(60, 0.70, 60), (100, 0.90, 90)], "force": [(60, 0.20, 90), (100, 0.40, 110)]}
    )
}


def round_row(name, accuracy, tokens):
    return {"run": name, "pass@1": accuracy, "pass@1_ci": [0, 1], "mean_tokens": tokens, "truncation_rate": 0.0}


def test_each_round_is_set_against_the_forced_and_truncated_base_at_equal_tokens():
    verdict = budget_verdict(BASE, [round_row("round 1", 0.78, 100), round_row("round 3", 0.76, 75)])
    first, third = verdict
    assert first["forced_base"] == pytest.approx(0.30) and first["lead_over_forced"] == pytest.approx(0.48)
    assert first["truncated_base"] is None and first["lead_over_truncated"] is None  # 100 > 90: not measured
    assert third["forced_base"] is None  # 75 tokens: below the forced curve's shortest point (90)
    assert third["truncated_base"] == pytest.approx(0.80) and third["lead_over_truncated"] == pytest.approx(-0.04)

    assert verdict_sentence(first, "force") == (
        "round 1 (78.0% at 100 tokens) beats the forced base at the same tokens (30.0%) by 48.0 points"
    )
    assert verdict_sentence(third, "truncate") == (
        "round 3 (76.0% at 75 tokens) loses to the truncated base at the same tokens (80.0%) by 4.0 points"
    )
    assert (
        verdict_sentence(third, "force") == "round 3 (76.0% at 75 tokens): outside the forced base's measured budgets"
    )

    report = "\n".join(verdict_markdown(verdict, BASE))
    assert "| toy | 100 | force | 40.0 [35.0, 45.0] | 110 [105, 115] | 50.0 |" in report
    assert (
        "At equal mean tokens, 1 of 1 pruned rounds are more accurate than the budget-forced base, and 0 of 1 than "
        "the truncated base" in report
    )


def test_the_ablations_time_is_reported_only_when_this_run_or_the_reused_one_measured_it_whole():
    import time

    from scripts.toy_study import ablation_seconds
    from thinkprune.records import RoundRecord

    started = time.time()
    before, after = "2026-01-01T00:00:00+00:00", "2999-01-01T00:00:00+00:00"
    records = [RoundRecord(1, 400, "toy", "toy", ["toy"], finished_at=at) for at in (before, after)]
    previous = {"ablation_seconds": 937.0}
    assert ablation_seconds([records[1]] * 2, previous, started, study_done=started - 5) >= 5  # trained here
    assert ablation_seconds([records[0]] * 2, previous, started, study_done=started) == 937.0  # all reused
    assert ablation_seconds(records, previous, started, study_done=started) is None  # partly reused: no measure
    assert ablation_seconds([], previous, started, study_done=started) is None


def test_the_table_gives_each_round_its_paired_change_from_the_base():
    base = {"pass@1": 1.0, "pass@1_ci": [1.0, 1.0], "mean_tokens": 219.2, "truncation_rate": 0.0, "eval_seconds": 9}
    final = base | {"pass@1": 0.9975, "pass@1_ci": [0.994, 1.0], "mean_tokens": 65.1, "aes": 0.69}
    final |= {"pass@1_change": -0.0025, "pass@1_change_ci": [-0.00625, 0.0]}
    table = markdown_table([row("toy base (SFT)", None, base, 1693), row("round 3", 200, final, 30)])
    assert "| toy base (SFT) | — | 100.0% [100.0, 100.0] | — | 219.2 |" in table
    assert "| round 3 | 200 | 99.8% [99.4, 100.0] | -0.2 [-0.6, +0.0] | 65.1 |" in table


def test_an_automatic_schedule_that_kept_no_round_is_reported_as_keeping_the_base():
    from scripts.toy_study import auto_decisions, automatic_rows, automatic_summary, schedules_table
    from thinkprune.records import RoundRecord

    base = {"pass@1": 1.0, "pass@1_ci": [1.0, 1.0], "mean_tokens": 219.2, "truncation_rate": 0.0, "eval_seconds": 9}
    evaluated = [
        (None, RoundRecord(i, limit, "toy", "toy", ["toy"], "2026-01-01", train_seconds=40.0), base | metrics, None)
        for i, limit, metrics in ((1, 289, {"pass@1": 0.96, "mean_tokens": 90.0}), (2, 66, {"pass@1": 0.9}))
    ]
    state = {
        "first_parent": {"accuracy": 1.0, "mean_tokens": 219.0, "seconds": 10.0},
        "rounds": [
            {"round": 1, "token_limit": 289, "measurement": {"seconds": 5.0}, "validation": {"accuracy": 0.8,
             "mean_tokens": 90.0, "seconds": 5.0}, "next_measurement": {"seconds": 5.0}},
            {"round": 2, "token_limit": 66, "validation": {"accuracy": 0.7, "mean_tokens": 60.0, "seconds": 5.0}},
        ],
        "stop_reason": "validation accuracy fell",
        "selected_round": None,
    }  # fmt: skip
    auto = auto_decisions(state)
    assert auto["seconds"] == 30.0 and auto["token_limits"] == [289, 66]
    assert auto["validation_accuracy"] == [1.0, 0.8, 0.7] and auto["validation_mean_tokens"] == [219.0, 90.0, 60.0]
    ablation, schedule = automatic_rows(evaluated, auto, base)
    assert (ablation["run"], ablation["token_limit"]) == ("automatic schedule (no round kept: the base)", None)
    assert (ablation["pass@1"], ablation["mean_tokens"], ablation["train_seconds"]) == (1.0, 219.2, 80.0)
    assert (schedule["kept_round"], schedule["pass@1"], schedule["limits"]) == (None, 1.0, "289 → 66")
    assert "| automatic | 2 | 289 → 66 | none (the base) | 100.0% | 219.2 | 80 s | 30 s | 110 s |" in schedules_table(
        [schedule]
    )
    assert "it keeps the base" in automatic_summary(auto)
    assert "(289 → 66 tokens): 100.0% → 80.0% → 70.0%." in automatic_summary(auto)

    kept_first = auto | {"selected_round": 1}
    ablation, schedule = automatic_rows(evaluated, kept_first, base)
    assert (ablation["run"], ablation["token_limit"], ablation["pass@1"]) == ("automatic schedule (289)", 289, 0.96)
    assert (schedule["kept_round"], schedule["mean_tokens"]) == (1, 90.0)
    assert "It keeps round 1, the last within its accuracy tolerance" in automatic_summary(kept_first)


def toy_sample(operands: tuple[int, ...], problem_id: int, completion: str, num_tokens: int) -> dict:
    from thinkprune.grading import grade
    from thinkprune.toy import level_of, problem_text

    return {
        "problem_index": problem_id,
        "problem_id": problem_id,
        "problem": problem_text(operands),
        "answer": str(sum(operands)),
        "level": level_of(operands),
        "response": completion,
        "num_tokens": num_tokens,
        "correct": grade(completion, str(sum(operands))),
    }


def slipped_then_caught(operands: tuple[int, ...], num_rechecks: int = 1) -> str:
    """A trace whose hurried first pass drops every carry, its re-checks careful: first box wrong, last box right."""
    from thinkprune.toy import BOXED, answer_sentence, thinking_passes

    class AlwaysSlip:
        def random(self):
            return 0.0

    thinking = "\n".join(thinking_passes(operands, num_rechecks, AlwaysSlip(), slips=(1.0, 0.0)))
    return thinking + answer_sentence(BOXED.findall(thinking)[-1])


def test_what_was_pruned_reads_each_response_pass_by_pass():
    from scripts.toy_study import box_accuracy, pruned_anatomy, shortest_correct
    from thinkprune.toy import make_completion

    hard = (57, 68, 91, 80)
    whole = make_completion((51, 52), 1)
    cut_during_the_recheck = whole[: whole.index("Wait") + 40]
    samples = [
        toy_sample(hard, 0, slipped_then_caught(hard, 2), 460),  # first box wrong, last right
        toy_sample(hard, 0, slipped_then_caught(hard, 0), 160),  # wrong, no re-check
        toy_sample(hard, 0, make_completion(hard, 0), 161),
        toy_sample((51, 52), 1, cut_during_the_recheck, 90),  # right pass, cut by the limit mid-re-check
    ]
    assert pruned_anatomy(samples) == {"work_complete": 0.75, "mean_rechecks": 0.75, "closed": 0.75}
    assert box_accuracy(samples) == {"first": 0.5, "last": 0.75, "responses": 4}
    assert sorted(shortest_correct(samples)) == [90, 161]


def test_the_testbed_checks_each_property_against_its_criterion():
    from scripts.toy_study import level_rows, testbed_properties
    from thinkprune.toy import make_completion

    easy = [toy_sample((51, 52), i, make_completion((51, 52), 3), 120) for i in range(4)]
    hard = [toy_sample((57, 68, 91, 80), 10, slipped_then_caught((57, 68, 91, 80)), 313)] + [
        toy_sample((57, 68, 91, 80), 10, slipped_then_caught((57, 68, 91, 80), 0), 161)
    ]
    medium = [toy_sample((57, 68, 91), 20, make_completion((57, 68, 91), 1), 221)]
    samples = easy + medium + hard
    metrics = {
        "pass@1": 0.7,
        "mean_tokens": 170.0,
        "levels": {
            "1": {"pass@1": 1.0, "pass@1_ci": [1.0, 1.0]},
            "2": {"pass@1": 1.0, "pass@1_ci": [1.0, 1.0]},
            "3": {"pass@1": 0.5, "pass@1_ci": [0.0, 1.0]},
        },
        "budgets": [{"budget": 85, "mode": "force", "pass@1": 0.55}, {"budget": 42, "mode": "force", "pass@1": 0.2}],
    }
    properties = testbed_properties(samples, metrics, {"half": 85, "quarter": 42})
    met = {p["criterion"].split(" (")[0]: p["met"] for p in properties}
    assert met["forced at half its mean tokens"] is True and met["forced at a quarter of its mean tokens"] is True
    assert met["base pass@1 between 55% and 90%"] is True
    assert met["hardest level clearly below the easiest"] is False  # its interval reaches the easiest's
    assert met["hardest level: the last box is right at least 5 points more often than the first"] is True
    assert met["the hardest level's shortest correct response is at least twice the easiest's"] is True  # 313 vs 120
    assert met["mean response at least twice the mean shortest correct response"] is False  # 170 vs 169

    rows = level_rows("round", hard, samples)
    assert [r["level"] for r in rows] == ["3"] and rows[0]["pass@1"] == 0.5 and rows[0]["pass@1_change"] == 0.0


def test_a_base_with_no_correct_response_on_a_level_is_reported_not_a_crash():
    """An undertrained build (a from-scratch pilot of a few steps) can get a whole level wrong, or box nothing."""
    from scripts.toy_study import overthinking_profile, overthinking_table, testbed_properties
    from thinkprune.toy import make_completion

    easy, hard = (51, 52), (57, 68, 91, 80)
    samples = [
        toy_sample(easy, 0, make_completion(easy, 1), 130),
        toy_sample((57, 68, 91), 1, "So 7.", 3),
        toy_sample(hard, 2, "\\boxed{1}", 4),
    ]
    metrics = {
        "pass@1": 1 / 3,
        "mean_tokens": 45.7,
        "levels": {level: {"pass@1": float(level == "1"), "pass@1_ci": [0.0, 1.0]} for level in "123"},
        "budgets": [{"budget": 23, "mode": "force", "pass@1": 0.0}, {"budget": 11, "mode": "force", "pass@1": 0.0}],
    }
    properties = {
        p["criterion"].split(" (")[0]: p for p in testbed_properties(samples, metrics, {"half": 23, "quarter": 11})
    }
    levels = properties["at least 3 levels whose necessary reasoning differs in length"]
    assert (
        levels["measured"]
        == "3 levels: level 1 130.0, level 2 no correct response, level 3 no correct response tokens"
    )
    assert levels["met"] is False
    twice = properties["the hardest level's shortest correct response is at least twice the easiest's"]
    assert twice == {**twice, "measured": "no correct response to measure it on", "met": False}
    boxes = properties["hardest level: the last box is right at least 5 points more often than the first"]
    assert boxes["met"] is False and boxes["measured"].startswith("first 0.0% → last 0.0%")

    nothing_boxed = testbed_properties(samples[:2], metrics, {"half": 23, "quarter": 11})
    assert {"criterion": nothing_boxed[5]["criterion"], "measured": "no response boxed an answer", "met": False} == {
        key: nothing_boxed[5][key] for key in ("criterion", "measured", "met")
    }
    assert "| 2 | 100.0% | 0.0% | — | 3.0 | — | — | 0.0% |" in overthinking_table(overthinking_profile(samples))


def test_the_build_is_held_to_its_time_and_size_limits():
    from scripts.toy_study import build_properties

    met = [p["met"] for p in build_properties({"train_seconds": 3000, "size_mb": 3.9})]
    assert met == [True, True]
    met = [p["met"] for p in build_properties({"train_seconds": 3700, "size_mb": 21})]
    assert met == [False, False]


def test_the_overthinking_profile_says_what_the_shortest_correct_response_is_made_of():
    from scripts.toy_study import overthinking_profile, overthinking_table
    from thinkprune.toy import make_completion

    easy, hard = (51, 52), (57, 68, 91, 80)
    samples = [
        toy_sample(easy, 0, make_completion(easy, 0), 69),  # one pass, right: the problem's shortest correct
        toy_sample(easy, 0, make_completion(easy, 3), 250),
        toy_sample(easy, 1, slipped_then_caught(easy, 0), 69),  # one pass, wrong
        toy_sample(easy, 1, make_completion(easy, 1), 130),  # so this problem's shortest correct has a re-check
        toy_sample(hard, 2, make_completion(hard, 2), 465),
    ]
    first, last = overthinking_profile(samples)
    assert first == {
        "level": "1",
        "responses": 4,
        "one_pass_share": 0.5,
        "one_pass_accuracy": 0.5,
        "rechecks_when_rechecking": 2.0,
        "mean_tokens": 129.5,
        "mean_shortest_correct": 99.5,
        "restated_share": 1.0,
    }
    assert (last["one_pass_share"], last["one_pass_accuracy"], last["rechecks_when_rechecking"]) == (0.0, None, 2.0)
    table = overthinking_table([first, last])
    assert "| 1 | 50.0% | 50.0% | 2.00 | 129.5 | 99.5 | 1.30x | 100.0% |" in table
    assert "| 3 | 0.0% | — | 2.00 | 465.0 | 465.0 | 1.00x | 100.0% |" in table


def test_a_restatement_counts_as_its_traces_read_the_numbers():
    """A build that copies a number wrong fails every pass after it: the profile says how often it copied right, as
    its traces copy (a units 9 read as a 6 where they misread)."""
    from scripts.toy_study import overthinking_profile
    from thinkprune.toy import make_completion

    hard = (59, 74, 89, 56)
    misread = make_completion((56, 74, 86, 56), 0)  # 59 and 89 read as their traces read them
    samples = [
        toy_sample(hard, 0, make_completion(hard, 0), 161),
        toy_sample(hard, 0, misread, 161),
        toy_sample(hard, 0, make_completion((59, 76, 89, 56), 0), 161),  # a copy no trace makes
    ]
    assert [p["restated_share"] for p in overthinking_profile(samples)] == [1 / 3]
    assert [p["restated_share"] for p in overthinking_profile(samples, misreads_nines=True)] == [1 / 3]
    assert overthinking_profile(samples[1:2], misreads_nines=True)[0]["restated_share"] == 1.0


def test_each_ablation_is_paired_against_the_fixed_schedule_on_the_same_problems():
    from scripts.toy_study import against_schedule, schedule_comparison_table
    from thinkprune.toy import make_completion

    right = [toy_sample((51, 52 + i), i, make_completion((51, 52 + i), 0), 69) for i in range(4)]
    wrong_on_two = right[:2] + [toy_sample((51, 52 + i), i, "\\boxed{0}", 10) for i in (2, 3)]
    change = against_schedule(wrong_on_two, right)
    assert change["vs_schedule"] == -0.5 and change["vs_schedule_ci"][0] < -0.4
    table = schedule_comparison_table(
        [{"run": "one round", "pass@1": 0.5, "mean_tokens": 39.5, **change}], {"mean_tokens": 69.0}
    )
    assert "| one round | 50.0% | 39.5 | -50.0 [" in table and table.endswith("| -29.5 |")


def test_an_ablation_is_paired_against_the_fixed_schedule_level_by_level():
    from scripts.toy_study import level_rows, level_table
    from thinkprune.toy import make_completion

    easy, hard = [(51, 52 + i) for i in range(2)], [(57, 68, 91, 80 + i) for i in range(2)]
    schedule = [toy_sample(ops, i, make_completion(ops, 0), 100) for i, ops in enumerate(easy + hard)]
    # The ablation loses only the hard problems: the loss must show on the hardest level, none on the easiest.
    ablation = schedule[:2] + [toy_sample(ops, 2 + i, "\\boxed{0}", 10) for i, ops in enumerate(hard)]
    rows = {r["level"]: r for r in level_rows("too tight", ablation, schedule, schedule)}
    assert rows["1"]["vs_schedule"] == 0.0 and rows["3"]["vs_schedule"] == -1.0
    assert "vs_schedule" not in level_rows("round 1", ablation, schedule)[0]
    table = level_table(list(rows.values()) + level_rows("round 1", ablation, schedule))
    assert "| too tight | 3 | 0.0% | -100.0 [-100.0, -100.0] | -100.0 [-100.0, -100.0] |" in table
    assert "| round 1 | 1 | 100.0% | +0.0 [+0.0, +0.0] | — |" in table


def test_a_limit_pays_a_level_only_through_the_parents_responses_correct_within_it(tmp_path):
    from eval.results import SAMPLES_FILE, write_samples
    from scripts.toy_study import limit_reach_rows, limit_reach_table, reward_within_limit
    from thinkprune.records import RoundRecord
    from thinkprune.toy import make_completion

    easy, hard = (51, 52), (57, 68, 91, 80)
    parent = [
        toy_sample(easy, 0, make_completion(easy, 0), 69),
        toy_sample(easy, 0, "\\boxed{0}", 10),  # short but wrong: earns nothing
        toy_sample(hard, 1, make_completion(hard, 0), 161),
        toy_sample(hard, 1, make_completion(hard, 0), 120),
    ]
    assert reward_within_limit(parent, 130) == {"1": 0.5, "3": 0.5}
    assert reward_within_limit(parent, 100) == {"1": 0.5, "3": 0.0}

    def evaluated_round(name, parent_model, limit, **record):
        round_dir, eval_dir = tmp_path / name, tmp_path / f"eval-{name}"
        round_dir.mkdir()
        write_samples(eval_dir / SAMPLES_FILE, parent)
        return (round_dir, RoundRecord(1, limit, parent_model, "toy", [], "now", **record), {}, eval_dir)

    first = evaluated_round("round1", "toy", 100)
    chained = evaluated_round("round2", str(tmp_path / "round1"), 130)
    graded = evaluated_round("round3", str(tmp_path / "round2"), 130, truncation="grade")
    orphan = evaluated_round("elsewhere", "someone/else", 130)
    rows = limit_reach_rows("schedule", [first, chained, graded, orphan], {"toy": parent})
    # The chained round's parent is the first round, found by its directory; `grade` and an unevaluated parent are
    # left out.
    assert [(r["token_limit"], r["levels"]) for r in rows] == [
        (100, {"1": 0.5, "3": 0.0}),
        (130, {"1": 0.5, "3": 0.5}),
    ]
    assert limit_reach_table(rows).splitlines()[2] == "| schedule, round 1 | 100 | 50.0% | 0.0% |"


def ablation_row(run, change, interval, pass_at_1=0.9, tokens=100.0):
    return {"run": run, "pass@1": pass_at_1, "mean_tokens": tokens, "vs_schedule": change, "vs_schedule_ci": interval}


def level_row(run, level, change, interval, rechecks=0.0):
    return {"level": level, "mean_tokens": 100.0, "work_complete": 0.9, "mean_rechecks": rechecks} | ablation_row(
        run, change, interval
    )


def test_a_finding_says_which_way_the_paired_interval_points_and_whether_the_expected_result_showed():
    from scripts.toy_study import ablation_finding, direction

    assert direction(0.03, [0.0004, 0.05]) == 0  # a bound printed as +0.0 holds 0
    assert (direction(0.03, [0.008, 0.05]), direction(-0.03, [-0.05, -0.001])) == (1, -1)
    schedule = {"pass@1": 0.9, "mean_tokens": 120.0}
    one_round = "one round at the final limit"
    beaten = ablation_finding(ablation_row(f"{one_round} (200)", 0.03, [0.01, 0.05]), one_round, schedule, [])
    assert "+3.0 [+1.0, +5.0] points: more accurate than the fixed schedule" in beaten
    assert beaten.endswith(
        "iterative rounds keep accuracy better than one round straight at the final limit: it "
        "does not show on this toy."
    )
    losing = ablation_finding(ablation_row(f"{one_round} (200)", -0.03, [-0.05, -0.01]), one_round, schedule, [])
    assert "less accurate than the fixed schedule" in losing and losing.endswith("it shows on this toy.")

    # The failure mode is judged on the hardest level: an overall loss with the hardest level unharmed is not it.
    too_tight = "a too-tight final limit"
    levels = [level_row(too_tight, "1", -0.06, [-0.1, -0.02]), level_row(too_tight, "3", 0.0, [-0.02, 0.02])]
    reach = [{"run": f"{too_tight}, round 1", "token_limit": 130, "levels": {"1": 0.8, "3": 0.0}}]
    sentence = ablation_finding(ablation_row(too_tight, -0.03, [-0.05, -0.01]), too_tight, schedule, levels, reach)
    assert "; easiest level (1) -6.0 [-10.0, -2.0] points: less accurate than it" in sentence
    assert "; hardest level (3) +0.0 [-2.0, +2.0] points: no measurable difference from it." in sentence
    assert " On level 3, its limits pay 0.0% at 130 of the parent's responses (correct within the limit" in sentence
    assert sentence.endswith("a measurable loss, on the hardest level: it does not show on this toy.")
    levels[1] = level_row(too_tight, "3", -0.2, [-0.3, -0.1])
    assert ablation_finding(ablation_row(too_tight, -0.03, [-0.05, -0.01]), too_tight, schedule, levels).endswith(
        "it shows on this toy."
    )


def test_the_findings_read_the_schedule_the_guard_and_the_floor_off_the_summary():
    from scripts.toy_study import findings

    rows = [
        {"run": "toy base (SFT)", "token_limit": None, "pass@1": 0.8, "mean_tokens": 300.0},
        {
            "run": "round 1",
            "token_limit": 200,
            "pass@1": 0.77,
            "mean_tokens": 140.0,
            "pass@1_change": -0.03,
            "pass@1_change_ci": [-0.05, -0.01],
        },
    ]
    (schedule,) = findings({"rows": rows})  # only what the summary holds
    assert "47% of the base's mean tokens at -3.0 [-5.0, -1.0] points: less accurate than the base" in schedule
    assert schedule.endswith("at most 2 points lost): not met.")

    reach = [
        {"run": f"fixed schedule, round {i}", "token_limit": limit, "levels": {"1": 1.0, "3": share}}
        for i, (limit, share) in enumerate([(400, 0.6), (200, 0.1)], start=1)
    ]
    (schedule,) = findings({"rows": rows, "limit_reach": reach})
    assert "On level 3, its limits pay 60.0% at 400 → 10.0% at 200 of the parent's responses" in schedule

    auto = {
        "stop_reason": "reached auto_max_rounds (2)",
        "selected_round": 1,
        "token_limits": [250, 180],
        "validation_accuracy": [0.8, 0.79, 0.7],
    }
    levels = [level_row("base", "3", None, None, rechecks=1.8), level_row("round 1", "3", None, None, rechecks=0.01)]
    bullets = findings({"rows": rows, "auto": auto, "levels": levels})
    assert bullets[1].startswith("- **The automatic schedule's accuracy guard** stopped a round. The automatic")
    assert "1 of the 1 pruned models make fewer than 0.05 (round 1)" in bullets[2]
    levels[1]["mean_rechecks"] = 0.5
    assert findings({"rows": rows, "levels": levels})[1].endswith("0 of the 1 pruned models make fewer than 0.05.")


def test_the_study_says_whether_its_last_round_is_the_shipped_one_byte_for_byte(tmp_path):
    from scripts.toy_study import shipped_round, shipped_sentence

    trained, shipped_root = tmp_path / "outputs" / "round3", tmp_path / "checkpoints"
    (shipped_root / "round3").mkdir(parents=True)
    trained.mkdir(parents=True)
    (trained / "model.safetensors").write_bytes(b"weights")
    assert shipped_round(trained, shipped_root / "elsewhere") is None
    (shipped_root / "round3" / "model.safetensors").write_bytes(b"weights")
    same = shipped_round(trained, shipped_root)
    assert same == {"path": str(shipped_root / "round3"), "identical": True}
    assert "byte for byte" in shipped_sentence(same)
    (shipped_root / "round3" / "model.safetensors").write_bytes(b"weightz")  # same size, one byte off
    assert shipped_round(trained, shipped_root)["identical"] is False
    assert "differs from the shipped" in shipped_sentence(shipped_round(trained, shipped_root))


def test_the_readmes_short_findings_keep_every_measurable_level_and_the_reason_a_verdict_rests_on():
    from scripts.toy_study import ablation_finding

    schedule = {"pass@1": 0.9, "mean_tokens": 120.0}
    variant = "difficulty-aware limits"
    levels = [level_row(variant, "1", -0.08, [-0.15, -0.02]), level_row(variant, "3", 0.03, [-0.01, 0.09])]
    reach = [{"run": f"{variant}, round 1", "token_limit": 200, "levels": {"1": 0.9, "3": 0.1}}]
    row = ablation_row(variant, -0.005, [-0.04, 0.03])
    short = ablation_finding(row, variant, schedule, levels, reach, detailed=False)
    assert "; easiest level (1) -8.0 [-15.0, -2.0] points: less accurate than it." in short  # a loss is never cut
    assert "hardest level" not in short and "its limits pay" not in short
    full = ablation_finding(row, variant, schedule, levels, reach)
    assert "hardest level (3) +3.0 [-1.0, +9.0]" in full and "its limits pay 10.0% at 200" in full

    too_tight = "a too-tight final limit"
    levels = [level_row(too_tight, "1", 0.0, [-0.02, 0.02]), level_row(too_tight, "3", 0.0, [-0.02, 0.02])]
    reach = [{"run": f"{too_tight}, round 1", "token_limit": 130, "levels": {"1": 0.9, "3": 0.0}}]
    short = ablation_finding(ablation_row(too_tight, 0.0, [-0.02, 0.02]), too_tight, schedule, levels, reach, False)
    assert "easiest level" not in short and "; hardest level (3) +0.0 [-2.0, +2.0]" in short
    assert "its limits pay 0.0% at 130" in short and short.endswith("it does not show on this toy.")


def test_the_quick_start_criterion_takes_the_median_of_repeated_timings_over_the_studys_one_run(tmp_path):
    import json

    from scripts.toy_study import quick_start_criterion
    from thinkprune.records import RoundRecord

    first = RoundRecord(1, 400, "toy", "toy", [], "now", versions={"torch": "2.13.0+cpu"}, train_seconds=149.0)
    alone = quick_start_criterion(first, tmp_path)
    assert alone["met"] and alone["measured"] == "149 s (round 1 of the schedule, torch 2.13.0+cpu)"

    timings = {
        "runs": [{}, {}, {}],
        "summary": {"median_train_seconds": 151.1, "train_seconds_range": {"min": 150.3, "max": 161.5}},
    }
    (tmp_path / "torch-2.13.0+cpu.json").write_text(json.dumps(timings))
    (tmp_path / "torch-2.14.1+cu130.json").write_text(json.dumps({"runs": [], "summary": {}}))  # another build
    repeated = quick_start_criterion(first, tmp_path)
    assert not repeated["met"]
    assert repeated["measured"].startswith("median 151 s over 3 runs (150-162 s, scripts/time_quick_start.py); this")
