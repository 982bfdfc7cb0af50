"""lgrec: recommendations from the interaction graph and from language."""

import os

# OpenMP threads that spin while waiting make sparse products 10x slower as soon as another
# process shares the cores (measured on 2-core machines); waiting passively costs nothing
# when the machine is idle. Must be set before torch loads its OpenMP runtime.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from lgrec.data import Dataset  # noqa: E402

__version__ = "0.1.0"

__all__ = ["Dataset", "Recommender", "__version__"]


def __getattr__(name: str):
    # The facade pulls in torch; keep `import lgrec` light for data-only use.
    if name == "Recommender":
        from lgrec.recommend import Recommender

        return Recommender
    raise AttributeError(name)
