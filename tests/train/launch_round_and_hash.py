"""train/round.py as `accelerate launch` runs it, with one addition for the tests: after training, every rank writes
a hash of the weights it holds to $WEIGHTS_HASH_DIR/rank<i>.sha256 (data parallel ranks must hold the same ones)."""

import hashlib
import os
import sys
from pathlib import Path


sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import train.round


def train_and_hash(trainer, *args, **kwargs):
    output = train_then_hash.original(trainer, *args, **kwargs)
    digest = hashlib.sha256()
    for name, tensor in sorted(trainer.model.state_dict().items()):
        digest.update(name.encode() + tensor.detach().cpu().contiguous().numpy().tobytes())
    Path(os.environ["WEIGHTS_HASH_DIR"], f"rank{trainer.accelerator.process_index}.sha256").write_text(
        digest.hexdigest()
    )
    return output


train_then_hash = train_and_hash
train_then_hash.original = train.round.GRPOTrainer.train
train.round.GRPOTrainer.train = train_and_hash

if __name__ == "__main__":
    train.round.main()
