"""train/round.py as `accelerate launch` runs it, with additions for the tests, in $WEIGHTS_HASH_DIR: after training,
every rank writes a hash of the weights it holds to rank<i>.sha256 (data parallel ranks must hold the same ones);
with difficulty-aware limits, the number of problems it measured to rank<i>.measured and the per-problem limits it
trains with to rank<i>.limits.json."""

import hashlib
import json
import os
import sys
from pathlib import Path


sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import train.round


TRAIN = train.round.GRPOTrainer.train
MEASURE = train.round.measure
ADD_PROBLEM_LIMITS = train.round.add_problem_limits


def rank_file(suffix: str) -> Path:
    return Path(os.environ["WEIGHTS_HASH_DIR"], f"rank{os.environ.get('RANK', '0')}.{suffix}")


def train_then_hash(trainer, *args, **kwargs):
    output = TRAIN(trainer, *args, **kwargs)
    digest = hashlib.sha256()
    for name, tensor in sorted(trainer.model.state_dict().items()):
        digest.update(name.encode() + tensor.detach().cpu().contiguous().numpy().tobytes())
    rank_file("sha256").write_text(digest.hexdigest())
    return output


def measure_and_count(model, prompts, *args, **kwargs):
    rank_file("measured").write_text(str(len(prompts)))
    return MEASURE(model, prompts, *args, **kwargs)


def add_and_keep_limits(*args, **kwargs):
    dataset, summary = ADD_PROBLEM_LIMITS(*args, **kwargs)
    rank_file("limits.json").write_text(json.dumps(list(dataset["token_limit"])))
    return dataset, summary


if __name__ == "__main__":
    train.round.GRPOTrainer.train = train_then_hash
    train.round.measure = measure_and_count
    train.round.add_problem_limits = add_and_keep_limits
    train.round.main()
