"""train/round.py as `accelerate launch` runs it, with one addition for the tests: after training, every rank writes
a hash of the weights it holds to $WEIGHTS_HASH_DIR/rank<i>.sha256 (data parallel ranks must hold the same ones)."""

import hashlib
import os
import sys
from pathlib import Path


sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import train.round


TRAIN = train.round.GRPOTrainer.train


def train_then_hash(trainer, *args, **kwargs):
    output = TRAIN(trainer, *args, **kwargs)
    digest = hashlib.sha256()
    for name, tensor in sorted(trainer.model.state_dict().items()):
        digest.update(name.encode() + tensor.detach().cpu().contiguous().numpy().tobytes())
    path = Path(os.environ["WEIGHTS_HASH_DIR"], f"rank{trainer.accelerator.process_index}.sha256")
    path.write_text(digest.hexdigest())
    return output


if __name__ == "__main__":
    train.round.GRPOTrainer.train = train_then_hash
    train.round.main()
