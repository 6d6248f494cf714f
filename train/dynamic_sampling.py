"""DAPO's dynamic sampling on trl's GRPOTrainer: train only on prompt groups whose rewards are not all equal.

A group whose completions all earn the same reward (all finished and correct, or all cut or wrong) has zero
advantage and teaches nothing, yet it fills the step, costs a backward pass and dilutes the token-level loss. DAPO
(arXiv 2503.14476) over-samples, drops those groups and generates again until the step is full of groups that teach;
DLER (arXiv 2510.15110) keeps it for length pruning. trl 1.16 has no such option (huggingface/trl#3708 is open):

    trainer = DynamicSamplingGRPOTrainer(model=..., reward_funcs=..., args=grpo_config, train_dataset=...,
                                         max_generation_rounds=3)

How a generation batch (`generation_batch_size` rollouts: one optimizer step when `steps_per_generation` is the
accumulation) is filled:

1. trl generates and scores the batch its dataloader gave, as always (round 1).
2. The groups with varied rewards are kept. While fewer than the batch's groups are kept and fewer than
   `max_generation_rounds` rounds ran, another batch of prompts is generated and scored (a separate seeded pass over
   the training set, so extra rounds do not repeat the prompts of the steps to come).
3. The step trains on the first kept groups in the order generated, exactly as many as a plain step holds, so
   `rollouts_per_step` still counts the rollouts trained on. Surplus kept groups are dropped, as DAPO does. When the
   rounds run out first, the step is topped up with zero-variance groups: their advantage is 0, so they add no policy
   gradient, but the step keeps its shape (DAPO's verl code stops with an error there instead).
4. Advantages are computed again on the rollouts trained on, as DAPO filters before it computes them: under
   `scale_rewards: batch` the std is the trained batch's, not that of the generated batches with their all-equal
   groups.

Several processes: trl gathers every rollout's rewards on every process, so each process decides from the same
numbers to generate again or not, and all run the same rounds (each round's generation and gathers are collectives:
processes disagreeing would deadlock). The kept rollouts are then gathered and each process takes its share, so a
group may span processes as in trl.

Logged every step: `dynamic_sampling/generation_rounds`, `groups_generated`, `groups_kept` (varied groups trained
on), `groups_padded` (zero-variance groups trained on because the rounds ran out), `frac_trained_zero_std` (their
share of the step), `extra_generation_seconds` (rounds 2 and later). trl's own `frac_reward_zero_std`, `reward`
and completion lengths describe every generated batch, kept or not.

Not supported (refused when the trainer is built): images, tools and environments (their per-rollout inputs are not
carried through the regrouping), iterable datasets (the extra rounds index the training set) and
`multi_objective_aggregation: normalize_then_sum` (the advantages are recomputed as the default sums them).
"""

import itertools
import time

import torch
import torch.nn.functional as F
from trl import GRPOTrainer
from trl.trainer.utils import nanstd


# How each tensor of trl's generation output is padded when batches of different widths are stacked: the prompt is
# left-padded, the completion and everything per completion token right-padded.
PADDING = {
    "prompt_ids": ("pad", True),
    "prompt_mask": (0, True),
    "completion_ids": ("pad", False),
    "completion_mask": (0, False),
    "tool_mask": (1, False),
    "old_per_token_logps": (0.0, False),
    "ref_per_token_logps": (0.0, False),
    "sampling_per_token_logps": (0.0, False),
    "importance_sampling_ratio": (0.0, False),
}
# Recomputed for the rollouts trained on.
RECOMPUTED = ("advantages", "num_items_in_batch")


def varied_groups(rewards: torch.Tensor, group_size: int) -> torch.Tensor:
    """Per group of `group_size` consecutive rewards: True when they are not all equal (trl's zero-std test)."""
    std = nanstd(rewards.view(-1, group_size), dim=1)
    return ~torch.isclose(std, torch.zeros_like(std)) & ~torch.isnan(std)


def pick_groups(varied: list[torch.Tensor], needed: int) -> tuple[list[tuple[int, int]], int]:
    """(round, group) of the `needed` groups a step trains on, and how many of them have all-equal rewards.

    The varied groups in the order generated; when there are too few, the first all-equal groups fill the rest."""
    flags = [(index, group, flag) for index, mask in enumerate(varied) for group, flag in enumerate(mask.tolist())]
    kept = [(index, group) for index, group, flag in flags if flag][:needed]
    padding = [(index, group) for index, group, flag in flags if not flag][: needed - len(kept)]
    return kept + padding, len(padding)


def group_advantages(rewards: torch.Tensor, group_size: int, scale_rewards: str) -> torch.Tensor:
    """trl's advantages (multi_objective_aggregation sum_then_normalize): the reward minus its group's mean, divided
    by the group's std (`group`), the whole batch's (`batch`) or nothing (`none`)."""
    grouped = rewards.view(-1, group_size)
    centered = (grouped - torch.nanmean(grouped, dim=1, keepdim=True)).view(-1)
    if scale_rewards == "group":
        centered = centered / (nanstd(grouped, dim=1).repeat_interleave(group_size) + 1e-4)
    elif scale_rewards == "batch":
        centered = centered / (nanstd(rewards) + 1e-4)
    return torch.nan_to_num(centered, nan=0.0)


def pad_columns(tensor: torch.Tensor, width: int, value, left: bool) -> torch.Tensor:
    missing = width - tensor.size(1)
    return F.pad(tensor, (missing, 0) if left else (0, missing), value=value) if missing else tensor


class DynamicSamplingGRPOTrainer(GRPOTrainer):
    """trl's GRPOTrainer with DAPO's dynamic sampling (see the module's docstring)."""

    def __init__(self, *args, max_generation_rounds: int = 3, **kwargs):
        super().__init__(*args, **kwargs)
        if max_generation_rounds < 1:
            raise ValueError(f"max_generation_rounds must be at least 1, got {max_generation_rounds}")
        unsupported = [
            what
            for what, present in (
                ("tools", bool(self.tools)),
                ("environments", self.environment_factories is not None),
                ("a rollout_func", self.rollout_func is not None),
                (
                    "multi_objective_aggregation normalize_then_sum",
                    self.multi_objective_aggregation != "sum_then_normalize",
                ),
                ("images", {"image", "images"} & set(getattr(self.train_dataset, "column_names", None) or [])),
            )
            if present
        ]
        if unsupported:
            raise ValueError(f"dynamic sampling does not support {', '.join(unsupported)}")
        prompts_per_batch = self.args.generation_batch_size // self.num_generations
        if not hasattr(self.train_dataset, "__len__") or len(self.train_dataset) < prompts_per_batch:
            raise ValueError(
                f"dynamic sampling needs a training set of at least one generation batch ({prompts_per_batch} "
                "prompts) that can be indexed"
            )
        self.max_generation_rounds = max_generation_rounds
        self.dynamic_sampling_totals = dict.fromkeys(
            ("generation_rounds", "groups_generated", "groups_kept", "groups_padded", "extra_generation_seconds"), 0
        )
        self._round_rewards = None
        self._extra_batches = self._extra_generation_batches()

    def _extra_generation_batches(self):
        """Endless local generation batches for the extra rounds, in trl's layout: each prompt `num_generations`
        times in a row, the global batch split over the processes in order. The order is seeded (the same on every
        process) with another seed than trl's sampler."""
        group, world = self.num_generations, self.accelerator.num_processes
        prompts_per_batch = self.args.generation_batch_size // group
        local = self.args.generation_batch_size // world
        rank = self.accelerator.process_index
        for epoch in itertools.count():
            generator = torch.Generator().manual_seed(self.args.seed + 1 + epoch)
            order = torch.randperm(len(self.train_dataset), generator=generator).tolist()
            for start in range(0, len(order) - prompts_per_batch + 1, prompts_per_batch):
                rows = [index for index in order[start : start + prompts_per_batch] for _ in range(group)]
                yield [self.train_dataset[index] for index in rows[rank * local : (rank + 1) * local]]

    def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):
        rewards_per_func = super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)
        # Gathered by trl: every process holds every rollout's rewards, in the global order of the batch.
        weights = self.reward_weights.to(rewards_per_func.device)
        self._round_rewards = (rewards_per_func * weights.unsqueeze(0)).nansum(dim=1)
        return rewards_per_func

    def _generate_and_score_completions(self, inputs):
        if not self.model.training:
            return super()._generate_and_score_completions(inputs)
        needed = self.args.generation_batch_size // self.num_generations
        rounds, rewards, varied = [], [], []
        extra_seconds = 0.0
        for index in range(self.max_generation_rounds):
            started = time.perf_counter()
            if index:
                inputs = next(self._extra_batches)
            rounds.append(super()._generate_and_score_completions(inputs))
            rewards.append(self._round_rewards)
            varied.append(varied_groups(self._round_rewards, self.num_generations))
            if index:
                extra_seconds += time.perf_counter() - started
            # The same on every process: the rewards it counts were gathered.
            if sum(int(mask.sum()) for mask in varied) >= needed:
                break
        chosen, num_padded = pick_groups(varied, needed)
        batch = self._stack_groups(rounds, rewards, chosen)
        self._log_dynamic_sampling(len(rounds), len(rounds) * needed, needed - num_padded, num_padded, extra_seconds)
        return batch

    def _stack_groups(self, rounds: list[dict], rewards: list[torch.Tensor], chosen: list[tuple[int, int]]) -> dict:
        """This process's share of the chosen groups' rollouts, as one generation output of trl's."""
        device = self.accelerator.device
        group, num_rounds = self.num_generations, len(rounds)
        local, rank = len(rounds[0]["advantages"]), self.accelerator.process_index
        rows = [(index, group_index * group + i) for index, group_index in chosen for i in range(group)]
        mine = rows[rank * local : (rank + 1) * local]
        # A process gathers its rounds one after the other: row j of round k sits in block (j's process, k).
        gathered_rows = torch.tensor(
            [(row // local) * num_rounds * local + index * local + row % local for index, row in mine], device=device
        )
        batch = {}
        for key, first in rounds[0].items():
            if key in RECOMPUTED:
                continue
            if key not in PADDING or not isinstance(first, torch.Tensor) or first.dim() != 2:
                raise ValueError(f"dynamic sampling cannot regroup trl's {key!r} output")
            value, left = PADDING[key]
            value = self._tokenizer.pad_token_id if value == "pad" else value
            local_width = max(output[key].size(1) for output in rounds)
            width = int(self.accelerator.gather(torch.tensor([local_width], device=device)).max())
            stacked = torch.cat([pad_columns(output[key], width, value, left) for output in rounds])
            batch[key] = self.accelerator.gather(stacked)[gathered_rows]
        trained_rewards = torch.stack([rewards[index][row] for index, row in rows])
        advantages = group_advantages(trained_rewards, group, self.scale_rewards)
        batch["advantages"] = advantages[rank * local : (rank + 1) * local]
        loss_mask = batch["completion_mask"] * batch["tool_mask"] if "tool_mask" in batch else batch["completion_mask"]
        batch["num_items_in_batch"] = self.accelerator.gather(loss_mask.sum()).sum()
        return batch

    def _log_dynamic_sampling(self, num_rounds, generated, kept, padded, extra_seconds) -> None:
        values = {
            "generation_rounds": num_rounds,
            "groups_generated": generated,
            "groups_kept": kept,
            "groups_padded": padded,
            "extra_generation_seconds": extra_seconds,
        }
        for name, value in values.items():
            self._metrics["train"][f"dynamic_sampling/{name}"].append(value)
            self.dynamic_sampling_totals[name] += value
        self._metrics["train"]["dynamic_sampling/frac_trained_zero_std"].append(padded / (kept + padded))
