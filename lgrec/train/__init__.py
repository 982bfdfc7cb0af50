"""Training: samplers, losses, the trainer loop, checkpoints."""

from lgrec.train.checkpoint import load_checkpoint, save_checkpoint
from lgrec.train.config import TrainConfig
from lgrec.train.losses import LOSSES, bpr_loss
from lgrec.train.sampling import UniformSampler
from lgrec.train.trainer import Trainer

__all__ = [
    "LOSSES",
    "TrainConfig",
    "Trainer",
    "UniformSampler",
    "bpr_loss",
    "load_checkpoint",
    "save_checkpoint",
]
