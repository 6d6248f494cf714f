"""What a measurement ran on, named the same way by every study that reports a time."""

import os
import platform

import torch


def machine_description() -> str:
    """The machine a measurement ran on, as reports name it: the CPU and the torch build, since a timing belongs to
    both (results/toy/quick_start: the toy's Quick start round under two builds on one CPU)."""
    return (
        f"{platform.machine()}, {os.cpu_count()} CPU cores, torch {torch.__version__} with "
        f"{torch.get_num_threads()} threads"
    )
