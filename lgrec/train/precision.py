"""Whether a device multiplies bfloat16 matrices in hardware, for the ``softmax`` loss's
``auto`` precision.

Where it does not, torch widens bfloat16 products to float32 and narrows them back, so they are
slower than float32 ones instead of about twice as fast: on a 2-core Xeon without AVX512-BF16
the loss step at Gowalla's shape took 4.46 s with bfloat16 products against 2.36 s in float32
at dimension 512, and 1.58 s against 0.63 s at 128 (BENCHMARKS.md, section
"softmax-step-no-bf16"), where on the 2-core EPYC of section "softmax-step" bfloat16 was the
faster, 0.95 s against 2.15 s and 0.32 s against 0.70 s. ``auto`` therefore takes bfloat16
only where the hardware has it.
"""

from __future__ import annotations

import functools
from pathlib import Path

import torch

AUTO = "auto"
"""The precision that resolves to ``bfloat16`` on hardware with bfloat16 products, else ``full``."""

CPU_BFLOAT16_FLAGS = frozenset({"avx512_bf16", "amx_bf16", "bf16"})
"""/proc/cpuinfo flags of bfloat16 products: x86's AVX512-BF16 and AMX-BF16 (``flags``), the
Arm BF16 extension (``Features``)."""


def cpuinfo_has_bfloat16(cpuinfo: str) -> bool:
    """Whether a /proc/cpuinfo text lists a bfloat16 product instruction set."""
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features") and CPU_BFLOAT16_FLAGS & set(value.split()):
            return True
    return False


@functools.cache
def _cpu_has_bfloat16() -> bool:
    try:
        return cpuinfo_has_bfloat16(Path("/proc/cpuinfo").read_text())
    except OSError:  # no /proc (macOS, Windows): no way to tell, so the precision that is safe
        return False


def native_bfloat16(device: str | torch.device) -> bool:
    """Whether ``device`` multiplies bfloat16 matrices in hardware (a CUDA GPU of compute
    capability 8.0 or later; a Linux CPU whose flags say so)."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported(
            including_emulation=False)
    return device.type == "cpu" and _cpu_has_bfloat16()


def resolve_precision(precision: str, device: str | torch.device) -> str:
    """``precision`` itself, or for ``auto`` the one ``device`` computes fastest: ``bfloat16``
    where :func:`native_bfloat16`, else ``full``."""
    if precision != AUTO:
        return precision
    return "bfloat16" if native_bfloat16(device) else "full"
