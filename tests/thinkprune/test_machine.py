"""thinkprune.machine: what a measurement ran on."""

import torch

from thinkprune.machine import machine_description


def test_a_measurement_names_the_torch_build_beside_the_cpu(monkeypatch):
    """A timing belongs to the torch build as much as to the CPU."""
    monkeypatch.setattr(torch, "__version__", "2.14.1+cu130")
    monkeypatch.setattr(torch, "get_num_threads", lambda: 3)
    assert machine_description().endswith(" CPU cores, torch 2.14.1+cu130 with 3 threads")
