"""The ThinkPrune reward: finished and correct -> 1, anything else -> 0, in both truncation modes."""

import pytest

from train.rewards import get_thinkprune_reward


EOS = 2
CORRECT = "</think>\nThe answer is \\boxed{579}."
WRONG = "</think>\nThe answer is \\boxed{578}."
CUT_AFTER_BOX = "Add column by column... so 579. \\boxed{579} Wait, let me double-check. Add col"
CUT_BEFORE_BOX = "Add column by column... so 579. Wait, let me double-check. Add col"


def call(reward, completions, finished, answers, **kwargs):
    """Call `reward` the way trl 1.16 GRPOTrainer does (prompts, completions, completion_ids, columns, hooks)."""
    completion_ids = [[5, 6, EOS] if done else [5, 6, 7] for done in finished]
    return reward(
        prompts=["What is 123 + 456?"] * len(completions),
        completions=completions,
        completion_ids=completion_ids,
        answer=answers,
        problem=["What is 123 + 456?"] * len(completions),
        trainer_state=None,
        log_extra=lambda column, values: None,
        **kwargs,
    )


def test_name_is_what_trl_logs():
    assert get_thinkprune_reward(EOS).__name__ == "thinkprune_reward"


def test_zero_mode_rewards_only_finished_correct_answers():
    reward = get_thinkprune_reward([EOS, 9])
    completions = [CORRECT, WRONG, CUT_AFTER_BOX, CUT_BEFORE_BOX, CORRECT]
    finished = [True, True, False, False, False]
    assert call(reward, completions, finished, ["579"] * 5) == [1.0, 0.0, 0.0, 0.0, 0.0]


def test_grade_mode_grades_truncated_text():
    reward = get_thinkprune_reward(EOS, truncation="grade")
    completions = [CORRECT, WRONG, CUT_AFTER_BOX, CUT_BEFORE_BOX]
    assert call(reward, completions, [True, True, False, False], ["579"] * 4) == [1.0, 0.0, 1.0, 0.0]


def test_any_declared_eos_id_finishes_a_completion():
    reward = get_thinkprune_reward([EOS, 9])
    rewards = reward(
        prompts=["p"] * 3, completions=[CORRECT] * 3, completion_ids=[[1, 9], [1, EOS], [1, 3]], answer=["579"] * 3
    )
    assert rewards == [1.0, 1.0, 0.0]


def test_empty_completion_is_unfinished():
    reward = get_thinkprune_reward(EOS)
    assert reward(prompts=["p"], completions=[""], completion_ids=[[]], answer=["579"]) == [0.0]


def test_conversational_completions_grade_last_assistant_message():
    reward = get_thinkprune_reward(EOS)
    completions = [
        [{"role": "assistant", "content": CORRECT}],
        [{"role": "assistant", "content": CORRECT}, {"role": "assistant", "content": WRONG}],
        [{"role": "assistant", "content": [{"type": "text", "text": CORRECT}]}],
    ]
    assert call(reward, completions, [True, True, True], ["579"] * 3) == [1.0, 0.0, 1.0]


def test_gold_answers_as_benchmarks_store_them():
    reward = get_thinkprune_reward(EOS)
    completions = ["\\boxed{27}", "\\boxed{\\dfrac{1}{2}}"]
    assert call(reward, completions, [True, True], [27.0, "$\\frac12$"]) == [1.0, 1.0]


def test_metrics_are_logged_through_trl_hook():
    logged = {}
    reward = get_thinkprune_reward(EOS)
    completions = [CORRECT, WRONG, CUT_AFTER_BOX, CUT_BEFORE_BOX]
    call(reward, completions, [True, True, False, False], ["579"] * 4, log_metric=logged.__setitem__)
    assert logged == {
        "thinkprune/accuracy": 0.5,
        "thinkprune/finished_rate": 0.5,
        "thinkprune/truncation_rate": 0.5,
    }


def test_a_completion_over_its_problems_own_limit_counts_as_unfinished_not_truncated():
    logged = {}
    reward = get_thinkprune_reward(EOS)
    # Three ended, correct completions of 3 ids: within a limit of 3 or 5, over a limit of 2; then two cut by
    # generation, one at its own limit of 2 and one over its own limit of 1 (cut, so truncated, not "over").
    rewards = reward(
        prompts=["p"] * 5,
        completions=[CORRECT, CORRECT, CORRECT, CUT_AFTER_BOX, CUT_AFTER_BOX],
        completion_ids=[[5, 6, EOS], [5, 6, EOS], [5, 6, EOS], [5, 6], [5, 6]],
        answer=["579"] * 5,
        token_limit=[3, 5, 2, 2, 1],
        log_metric=logged.__setitem__,
    )
    assert rewards == [1.0, 1.0, 0.0, 0.0, 0.0]
    assert logged == {
        "thinkprune/accuracy": 1.0,
        "thinkprune/finished_rate": 0.4,
        "thinkprune/truncation_rate": 0.4,
        "thinkprune/over_own_limit_rate": 0.2,
    }


def test_without_per_problem_limits_nothing_is_over_its_own_limit():
    logged = {}
    call(get_thinkprune_reward(EOS), [CORRECT], [True], ["579"], log_metric=logged.__setitem__)
    assert "thinkprune/over_own_limit_rate" not in logged


@pytest.mark.parametrize("mode", ["paper", "", "Zero"])
def test_unknown_truncation_mode_names_the_valid_ones(mode):
    with pytest.raises(ValueError, match="zero, grade"):
        get_thinkprune_reward(EOS, truncation=mode)


def test_no_eos_ids_is_an_error():
    with pytest.raises(ValueError, match="eos_token_ids"):
        get_thinkprune_reward([])


@pytest.mark.slow
def test_grpo_trainer_calls_reward_and_logs_metrics(tiny_checkpoint, tmp_path):
    """One real GRPO step on a tiny random model: trl calls the reward the way we expect and logs our metrics."""
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    from thinkprune.modeling import load_model, load_tokenizer
    from thinkprune.toy import TRAIN_SUFFIX, make_problems

    tokenizer = load_tokenizer(str(tiny_checkpoint))
    model = load_model(str(tiny_checkpoint))
    problems = make_problems("train", 2, seed=0)
    dataset = Dataset.from_list(
        [
            {"prompt": [{"role": "user", "content": p["problem"] + TRAIN_SUFFIX}], "answer": p["answer"]}
            for p in problems
        ]
    )
    args = GRPOConfig(
        output_dir=str(tmp_path / "out"),
        use_cpu=True,
        bf16=False,
        activation_checkpointing=False,
        per_device_train_batch_size=4,
        num_generations=4,
        max_completion_length=8,
        max_steps=1,
        logging_steps=1,
        report_to="none",
        save_strategy="no",
    )
    reward = get_thinkprune_reward(tokenizer.eos_token_id)
    trainer = GRPOTrainer(
        model=model, reward_funcs=[reward], args=args, train_dataset=dataset, processing_class=tokenizer
    )
    trainer.train()
    logged = trainer.state.log_history[0]
    assert logged["rewards/thinkprune_reward/mean"] == 0.0  # 8 random tokens: never a finished correct answer
    assert logged["thinkprune/finished_rate"] + logged["thinkprune/truncation_rate"] == pytest.approx(1.0)
    assert logged["thinkprune/truncation_rate"] == pytest.approx(logged["completions/clipped_ratio"])
    assert "thinkprune/accuracy" in logged
