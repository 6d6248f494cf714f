"""The ThinkPrune reward for trl's GRPOTrainer: 1.0 for a finished response with a correct final answer, else 0.0.

    from train.rewards import get_thinkprune_reward
    reward = get_thinkprune_reward(trainer_eos_token_ids, truncation="zero")
    trainer = GRPOTrainer(model=..., reward_funcs=[reward], args=GRPOConfig(max_completion_length=limit, ...), ...)

A completion is finished when its last generated id is an end-of-sequence id; one cut by `max_completion_length`
ends without it. Pass the ids trl itself stops on: the model's `generation_config.eos_token_id` (int or list) plus
the tokenizer's `eos_token_id`.

Truncation modes:
- `zero` (the paper's rule, default): an unfinished completion gets 0, whatever it contains;
- `grade` (what the official code does): an unfinished completion is graded too, so a `\\boxed{}` reached before
  the cut still earns 1.

Correctness is `thinkprune.grading.grade` on the whole completion text (R1-style templates prefill "<think>\\n", so the
completion holds the closing "</think>" and the answer after it) against the dataset column `answer`.

Difficulty-aware limits (train/round.py `difficulty_aware_limits`): a dataset column `token_limit` gives every
problem its own limit, at most the round's; a completion longer than its problem's limit counts as unfinished, as if
generation had been cut there.

Every call logs, through trl's `log_metric` hook, the batch means of:
`thinkprune/accuracy` (answer correct, finished or not), `thinkprune/finished_rate` (ended with EOS within the limit)
and `thinkprune/truncation_rate` (cut by generation: no EOS); with per-problem limits also
`thinkprune/over_own_limit_rate` (ended with EOS, but longer than their problem's limit). The three rates add up to 1.
"""

from collections.abc import Callable, Iterable

from thinkprune.grading import grade


TRUNCATION_MODES = ("zero", "grade")


def completion_text(completion) -> str:
    """The text to grade: a plain string, or the content of the last assistant message of a conversation."""
    if isinstance(completion, str):
        return completion
    for message in reversed(completion):
        if message.get("role") == "assistant":
            content = message.get("content") or ""
            if isinstance(content, str):
                return content
            return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return ""


def get_thinkprune_reward(eos_token_ids: int | Iterable[int], truncation: str = "zero") -> Callable[..., list[float]]:
    """The ThinkPrune reward function for `GRPOTrainer(reward_funcs=[...])`; its `__name__` is `thinkprune_reward`."""
    if truncation not in TRUNCATION_MODES:
        raise ValueError(f"truncation must be one of {', '.join(TRUNCATION_MODES)}; got {truncation!r}")
    eos_ids = frozenset([eos_token_ids] if isinstance(eos_token_ids, int) else eos_token_ids)
    if not eos_ids:
        raise ValueError("eos_token_ids is empty: no completion could ever count as finished")

    def thinkprune_reward(
        completions, completion_ids, answer, log_metric=None, token_limit=None, **kwargs
    ) -> list[float]:
        limits = [None] * len(completion_ids) if token_limit is None else token_limit
        ended = [bool(ids) and ids[-1] in eos_ids for ids in completion_ids]
        # Ended, but after its problem's own limit: unfinished for the reward, yet not cut by generation.
        over_own_limit = [
            done and limit is not None and len(ids) > limit
            for ids, done, limit in zip(completion_ids, ended, limits, strict=True)
        ]
        finished = [done and not over for done, over in zip(ended, over_own_limit)]
        correct = [
            grade(completion_text(completion), gold) for completion, gold in zip(completions, answer, strict=True)
        ]
        if truncation == "zero":
            rewards = [float(done and right) for done, right in zip(finished, correct, strict=True)]
        else:
            rewards = [float(right) for right in correct]
        if log_metric is not None and rewards:
            log_metric("thinkprune/accuracy", sum(correct) / len(correct))
            log_metric("thinkprune/finished_rate", sum(finished) / len(finished))
            log_metric("thinkprune/truncation_rate", 1.0 - sum(ended) / len(ended))
            if token_limit is not None:
                log_metric("thinkprune/over_own_limit_rate", sum(over_own_limit) / len(over_own_limit))
        return rewards

    return thinkprune_reward
