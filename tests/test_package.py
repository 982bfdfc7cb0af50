"""What importing lgrec sets up for torch, checked in fresh interpreters (torch reads these
settings once, when it loads or first allocates)."""

import subprocess
import sys
from pathlib import Path

import pytest

THP_MODE = Path("/sys/kernel/mm/transparent_hugepage/enabled")

# Allocates and touches a 64 MiB tensor, prints how much of it the kernel backed with huge pages.
HUGE_PAGES_OF_A_TENSOR = """
import os, sys
{imports}
def huge_kib():
    with open("/proc/self/smaps_rollup") as f:
        return int(f.read().split("AnonHugePages:")[1].split()[0])
before = huge_kib()
table = torch.ones(16 << 20)
print(huge_kib() - before)
"""


def huge_kib_of_a_64mib_tensor(imports: str, **env: str) -> int:
    done = subprocess.run([sys.executable, "-c", HUGE_PAGES_OF_A_TENSOR.format(imports=imports)],
                          capture_output=True, text=True, check=True,
                          env={"PATH": "/usr/bin:/bin", **env})
    return int(done.stdout.split()[-1])


def kernel_offers_huge_pages() -> bool:
    return THP_MODE.exists() and "[never]" not in THP_MODE.read_text()


@pytest.mark.skipif(not kernel_offers_huge_pages(), reason="no transparent huge pages here")
def test_importing_lgrec_first_backs_large_tensors_with_huge_pages() -> None:
    with_lgrec = huge_kib_of_a_64mib_tensor("import lgrec, torch")
    torch_alone = huge_kib_of_a_64mib_tensor("import torch")
    turned_off = huge_kib_of_a_64mib_tensor("import lgrec, torch", THP_MEM_ALLOC_ENABLE="0")
    assert with_lgrec >= 32 * 1024  # most of the 64 MiB on 2 MiB pages
    if "[madvise]" in THP_MODE.read_text():  # huge pages only where asked for
        assert torch_alone < with_lgrec and turned_off < with_lgrec


def test_the_settings_are_defaults_a_user_can_override() -> None:
    script = "import os, lgrec; print(os.environ['THP_MEM_ALLOC_ENABLE'], os.environ['OMP_WAIT_POLICY'])"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          check=True, env={"PATH": "/usr/bin:/bin", "OMP_WAIT_POLICY": "ACTIVE"})
    assert done.stdout.split() == ["1", "ACTIVE"]
