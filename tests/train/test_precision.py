"""The ``auto`` precision: bfloat16 products only where the hardware has them."""

from __future__ import annotations

import pytest
import torch

import lgrec.train.precision as precision
from lgrec.train.losses import full_softmax_loss

XEON_WITHOUT_BF16 = """processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Processor @ 2.80GHz
flags\t\t: fpu vme sse sse2 avx avx2 avx512f avx512dq avx512bw avx512vl avx512_vnni
"""
EPYC_WITH_BF16 = XEON_WITHOUT_BF16.replace("avx512_vnni", "avx512_vnni avx512_bf16")
ARM_WITH_BF16 = "processor\t: 0\nFeatures\t: fp asimd evtstrm aes sha2 i8mm bf16 sve\n"
ARM_WITHOUT = "processor\t: 0\nFeatures\t: fp asimd evtstrm aes sha2\n"


@pytest.mark.parametrize(("cpuinfo", "expected"), [
    (XEON_WITHOUT_BF16, False), (EPYC_WITH_BF16, True), (ARM_WITH_BF16, True),
    (ARM_WITHOUT, False), ("", False),
    # A flag's name elsewhere on a line that is not the flag list says nothing.
    ("model name\t: bf16 test rig\nflags\t: fpu avx2\n", False),
])
def test_cpuinfo_flags_name_bfloat16_products(cpuinfo, expected):
    assert precision.cpuinfo_has_bfloat16(cpuinfo) is expected


@pytest.mark.parametrize("native", [True, False])
def test_auto_resolves_to_bfloat16_only_on_native_hardware(monkeypatch, native):
    monkeypatch.setattr(precision, "_cpu_has_bfloat16", lambda: native)
    assert precision.resolve_precision("auto", "cpu") == ("bfloat16" if native else "full")
    assert precision.resolve_precision("bfloat16", "cpu") == "bfloat16"
    assert precision.resolve_precision("full", "cpu") == "full"


@pytest.mark.parametrize("native", [True, False])
def test_auto_loss_equals_the_loss_of_the_resolved_precision(monkeypatch, native):
    monkeypatch.setattr(precision, "_cpu_has_bfloat16", lambda: native)
    generator = torch.Generator().manual_seed(0)
    users, items = torch.randn(6, 8, generator=generator), torch.randn(30, 8, generator=generator)
    rows, cols = torch.tensor([0, 0, 2, 5]), torch.tensor([3, 7, 1, 29])
    auto = full_softmax_loss(users, items, rows, cols, 0.2, precision="auto")
    bfloat = full_softmax_loss(users, items, rows, cols, 0.2, precision="bfloat16")
    full = full_softmax_loss(users, items, rows, cols, 0.2, precision="full")
    assert bfloat != full  # the two precisions differ here, so the equality below tells them apart
    assert auto == (bfloat if native else full)
