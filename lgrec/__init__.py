"""lgrec: recommendations from the interaction graph and from language."""

import os

# OpenMP threads that spin while waiting make sparse products 10x slower as soon as another
# process shares the cores (measured on 2-core machines); waiting passively costs nothing
# when the machine is idle. Must be set before torch loads its OpenMP runtime.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
# torch's CPU allocator asks the kernel for transparent huge pages for tensors of 2 MiB and
# more only when this is set. Training allocates and frees tables of hundreds of MiB every
# step (products' outputs, gradients); on 4 KiB pages each fresh one pays a page fault per
# 4 KiB while it is zero-filled. Measured on a 2-core EPYC (BENCHMARKS.md, "huge-pages"): a
# LightGCN step on 19.2M edges a third faster, peak memory the same or lower (on 0.9M and
# 4.7M edges and a Gowalla full-softmax epoch within noise). torch reads it once, at its first
# allocation, so it only takes effect when lgrec is imported before torch;
# THP_MEM_ALLOC_ENABLE=0 turns it off.
os.environ.setdefault("THP_MEM_ALLOC_ENABLE", "1")

from lgrec.data import Dataset  # noqa: E402

__version__ = "0.1.0"

__all__ = ["Dataset", "Recommender", "__version__"]


def __getattr__(name: str):
    # The facade pulls in torch; keep `import lgrec` light for data-only use.
    if name == "Recommender":
        from lgrec.recommend import Recommender

        return Recommender
    raise AttributeError(name)
