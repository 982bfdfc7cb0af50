"""retained_heap: glibc's malloc keeps large blocks in the heap inside, and its defaults
come back outside (read back through mallinfo2, glibc's own accounting)."""

from __future__ import annotations

import ctypes

import numpy as np
import pytest
import torch

from lgrec.graph import Graph
from lgrec.models.lightgcn import LightGCN
from lgrec.train.config import TrainConfig
from lgrec.train.heap import _glibc, retained_heap
from lgrec.train.trainer import Trainer

LIBC = _glibc()
pytestmark = pytest.mark.skipif(LIBC is None or not hasattr(LIBC, "mallinfo2"),
                                reason="glibc 2.33+ only")
BIG = 64 << 20  # over glibc's largest mmap threshold (32 MiB)


class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost")]


def mallinfo() -> MallInfo2:
    LIBC.mallinfo2.restype = MallInfo2
    return LIBC.mallinfo2()


def mapped_blocks_for_a_big_array() -> int:
    """mmapped blocks in use while one ``BIG``-byte array is alive, minus those before."""
    before = mallinfo().hblks
    block = np.empty(BIG, dtype=np.uint8)
    during = mallinfo().hblks
    del block
    return during - before


def test_big_blocks_come_from_the_heap_inside_and_from_mmap_outside():
    assert mapped_blocks_for_a_big_array() == 1
    with retained_heap() as applied:
        assert applied
        assert mapped_blocks_for_a_big_array() == 0
    assert mapped_blocks_for_a_big_array() == 1


def test_freed_memory_stays_in_the_heap_until_the_context_ends():
    with retained_heap():
        block = np.ones(4 * BIG, dtype=np.uint8)
        del block
        kept = mallinfo().fordblks
        assert kept >= 4 * BIG  # freed, yet still the process's
    assert mallinfo().fordblks < kept - 3 * BIG  # trimmed back to the system


def test_nested_contexts_keep_the_settings_until_the_outermost_ends():
    with retained_heap():
        with retained_heap():
            pass
        assert mapped_blocks_for_a_big_array() == 0
    assert mapped_blocks_for_a_big_array() == 1


def test_disabled_context_changes_nothing():
    with retained_heap(False) as applied:
        assert not applied
        assert mapped_blocks_for_a_big_array() == 1


def test_training_gives_the_same_model_with_and_without_it():
    rng = np.random.default_rng(0)
    users, items = rng.integers(0, 60, 600), rng.integers(0, 40, 600)
    graph = Graph.from_interactions(users, items, 60, 40)
    weights = []
    for retain in (True, False):
        torch.manual_seed(0)
        model = LightGCN(60, 40, dim=8, layers=2)
        Trainer(TrainConfig(epochs=2, batch_size=128, progress=False, retain_heap=retain,
                            seed=3)).fit(model, graph)
        weights.append(torch.cat([p.detach().flatten() for p in model.parameters()]))
    assert torch.equal(weights[0], weights[1])


class RecordingLightGCN(LightGCN):
    """Records, at every forward pass, whether a big block would be mmapped."""

    def forward(self, graph):
        self.mapped.append(mapped_blocks_for_a_big_array())
        return super().forward(graph)


@pytest.mark.parametrize("retain, mapped", [(True, 0), (False, 1)])
def test_cpu_training_runs_inside_the_context_when_the_config_asks(retain, mapped):
    graph = Graph.from_interactions(np.arange(30) % 10, np.arange(30) % 7, 10, 7)
    model = RecordingLightGCN(10, 7, dim=4, layers=1)
    model.mapped = []
    Trainer(TrainConfig(epochs=1, batch_size=16, progress=False, retain_heap=retain)).fit(
        model, graph)
    assert model.mapped and set(model.mapped) == {mapped}
    assert mapped_blocks_for_a_big_array() == 1  # defaults back after fit
