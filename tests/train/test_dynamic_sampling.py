"""train/dynamic_sampling.py: the group filter, the choice of groups, the advantages and the regrouping of trl's
generation output; a real CPU round with dynamic sampling (the two-process one is in test_distributed.py)."""

import json
from types import SimpleNamespace

import pytest
import torch
from safetensors.torch import load_file
from test_round import launch_round, round_args

from thinkprune.records import ROUND_RECORD, TRAINER_LOG
from train.dynamic_sampling import DynamicSamplingGRPOTrainer, group_advantages, pick_groups, varied_groups


def test_groups_whose_rewards_are_all_equal_are_not_varied():
    rewards = torch.tensor([1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.5, 0.5])
    assert varied_groups(rewards[:8], 2).tolist() == [False, True, False, True]
    assert varied_groups(rewards[:8], 4).tolist() == [True, True]
    assert varied_groups(torch.tensor([0.3, 0.3, 0.3]), 3).tolist() == [False]


def test_a_step_takes_the_first_varied_groups_then_pads_with_all_equal_ones():
    first, second = torch.tensor([False, True, False, True]), torch.tensor([True, True, False, False])
    # Enough varied groups: the first four in the order generated, the surplus dropped.
    assert pick_groups([first, second], 3) == ([(0, 1), (0, 3), (1, 0)], 0)
    assert pick_groups([first, second], 4) == ([(0, 1), (0, 3), (1, 0), (1, 1)], 0)
    # The rounds ran out: all-equal groups fill the step, and they are counted.
    assert pick_groups([first], 4) == ([(0, 1), (0, 3), (0, 0), (0, 2)], 2)


def test_advantages_are_trls_and_batch_scaling_uses_the_trained_batch():
    rewards = torch.tensor([1.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0, 1.0])
    grouped = rewards.view(-1, 4)
    expected = (grouped - grouped.mean(1, keepdim=True)) / (grouped.std(1, keepdim=True) + 1e-4)
    assert torch.allclose(group_advantages(rewards, 4, "group"), expected.view(-1))
    centered = (grouped - grouped.mean(1, keepdim=True)).view(-1)
    assert torch.allclose(group_advantages(rewards, 4, "none"), centered)
    assert torch.allclose(group_advantages(rewards, 4, "batch"), centered / (rewards.std() + 1e-4))
    # An all-equal group has zero advantage under every scaling.
    assert group_advantages(torch.tensor([1.0, 1.0, 0.0, 1.0]), 2, "group")[:2].tolist() == [0.0, 0.0]


def generation_output(completion_width: int, first_token: int, rows: int = 4) -> dict:
    """What trl's `_generate_and_score_completions` returns for `rows` rollouts (prompt width 2)."""
    completion_ids = torch.arange(rows * completion_width).view(rows, completion_width) + first_token
    return {
        "prompt_ids": torch.full((rows, 2), first_token),
        "prompt_mask": torch.ones(rows, 2, dtype=torch.long),
        "completion_ids": completion_ids,
        "completion_mask": torch.ones(rows, completion_width, dtype=torch.long),
        "advantages": torch.zeros(rows),
        "num_items_in_batch": torch.tensor(rows * completion_width),
        "old_per_token_logps": torch.full((rows, completion_width), -1.0),
    }


def test_chosen_groups_are_stacked_into_one_generation_output():
    """Two rounds of 4 rollouts (groups of 2) of different widths: the step takes group 1 of round 1 and group 0 of
    round 2, padded to one width (prompts on the left, completions on the right), advantages recomputed."""
    trainer = SimpleNamespace(
        accelerator=SimpleNamespace(device="cpu", process_index=0, gather=lambda tensor: tensor),
        num_generations=2,
        scale_rewards="group",
        _tokenizer=SimpleNamespace(pad_token_id=-7),
    )
    rounds = [generation_output(3, 100), generation_output(5, 200)]
    rewards = [torch.tensor([1.0, 1.0, 1.0, 0.0]), torch.tensor([0.0, 1.0, 0.0, 0.0])]
    batch = DynamicSamplingGRPOTrainer._stack_groups(trainer, rounds, rewards, [(0, 1), (1, 0)])

    assert batch["completion_ids"].tolist() == [
        [106, 107, 108, -7, -7],  # round 1, rollouts 2 and 3, right-padded to round 2's width
        [109, 110, 111, -7, -7],
        [200, 201, 202, 203, 204],
        [205, 206, 207, 208, 209],
    ]
    assert batch["completion_mask"].sum(1).tolist() == [3, 3, 5, 5]
    assert batch["old_per_token_logps"][0].tolist() == [-1.0, -1.0, -1.0, 0.0, 0.0]
    assert batch["prompt_ids"][:, 0].tolist() == [100, 100, 200, 200]
    assert batch["num_items_in_batch"].item() == 16
    assert batch["advantages"].tolist() == pytest.approx([0.707, -0.707, -0.707, 0.707], abs=1e-3)


@pytest.mark.slow
def test_a_round_with_dynamic_sampling_trains_on_varied_groups(coin_flip_checkpoint, tmp_path):
    """Groups of 2 coin flips are all-equal half the time: steps need extra rounds, and get them."""
    model, problems = coin_flip_checkpoint
    output_dir = tmp_path / "round1"
    options = ["--num_generations", "2", "--dynamic_sampling", "true", "--dynamic_sampling_max_rounds", "3"]
    result = launch_round([*round_args(model, problems, output_dir), *options])
    assert result.returncode == 0, result.stderr[-3000:]

    record = json.loads((output_dir / ROUND_RECORD).read_text())
    sampling = record["dynamic_sampling"]
    assert record["batch"]["rollouts_per_step"] == 8 and record["global_step"] == 2
    assert sampling["max_rounds"] == 3 and 2 < sampling["generation_rounds"] <= 6  # extra rounds, at most 3 a step
    assert sampling["groups_generated"] == 4 * sampling["generation_rounds"]
    assert sampling["groups_kept"] + sampling["groups_padded"] == 2 * 4  # a step trains on its 4 prompts' groups
    assert sampling["extra_generation_seconds"] > 0

    log = [entry for entry in json.loads((output_dir / TRAINER_LOG).read_text()) if "reward" in entry]
    assert len(log) == 2
    for entry in log:
        assert entry["dynamic_sampling/groups_kept"] + entry["dynamic_sampling/groups_padded"] == 4
        assert entry["dynamic_sampling/frac_trained_zero_std"] == entry["dynamic_sampling/groups_padded"] / 4
        assert entry["dynamic_sampling/groups_generated"] == 4 * entry["dynamic_sampling/generation_rounds"]
    before, after = load_file(model / "model.safetensors"), load_file(output_dir / "model.safetensors")
    assert any(not torch.equal(before[key], after[key]) for key in before), "GRPO did not change the weights"
    assert "Dynamic sampling (DAPO)" in (output_dir / "README.md").read_text()
