"""The ``Recommender`` facade and model artifacts."""

from lgrec.recommend.recommender import Recommender, ScoredItem

__all__ = ["Recommender", "ScoredItem"]
