"""Data in: readers, validation, the ``Dataset`` with id maps, and splits."""

from lgrec.data.bundled import ML100K_ITEM_TEMPLATE, bundled_path, load_movielens100k
from lgrec.data.dataset import Dataset, IdMap, k_core, prepare_interactions
from lgrec.data.errors import DataError
from lgrec.data.readers import (
    ColumnMap,
    read_interactions,
    read_lightgcn,
    read_recbole_atomic,
    read_side_table,
    read_table,
)
from lgrec.data.sources import FORMATS, detect_format, load_dataset
from lgrec.data.splits import METHODS as SPLIT_METHODS
from lgrec.data.splits import cold_entities, load_split, save_split, split

__all__ = [
    "ML100K_ITEM_TEMPLATE",
    "ColumnMap",
    "DataError",
    "FORMATS",
    "Dataset",
    "IdMap",
    "SPLIT_METHODS",
    "bundled_path",
    "cold_entities",
    "detect_format",
    "k_core",
    "load_dataset",
    "load_movielens100k",
    "load_split",
    "prepare_interactions",
    "read_interactions",
    "read_lightgcn",
    "read_recbole_atomic",
    "read_side_table",
    "read_table",
    "save_split",
    "split",
]
