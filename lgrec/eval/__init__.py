"""Full-ranking evaluation with seen items masked, and the metrics."""

from lgrec.eval.metrics import METRIC_FUNCTIONS, METRICS, parse_metric
from lgrec.eval.ranking import Evaluation, dot_scorer, evaluate_ranking, mask_rows, top_k

__all__ = [
    "METRICS",
    "METRIC_FUNCTIONS",
    "Evaluation",
    "dot_scorer",
    "evaluate_ranking",
    "mask_rows",
    "parse_metric",
    "top_k",
]
