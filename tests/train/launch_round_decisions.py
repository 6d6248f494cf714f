"""train/round.py's main as `accelerate launch` runs it, with training replaced by a note, $DECISIONS_DIR/rank<i>, of
each process that would train: to show what every process decides from the output directory. The main process
checks the directory 2 s late, as a busy machine or a slow shared filesystem may."""

import os
import sys
import time
from pathlib import Path


sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import train.round


CHECK = train.round.check_output_dir


def late_check(*args, **kwargs):
    time.sleep(2)
    return CHECK(*args, **kwargs)


def note_training(args, training_args, output_dir, identity):
    Path(os.environ["DECISIONS_DIR"], f"rank{training_args.process_index}").write_text("trains")


if __name__ == "__main__":
    train.round.check_output_dir = late_check
    train.round.train = note_training
    train.round.main()
