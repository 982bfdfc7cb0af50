"""The user-item graph as sparse matrices, normalisation and torch conversion."""

from lgrec.graph.adjacency import (
    Graph,
    adjacency_spmm,
    bipartite_adjacency,
    column_ranges,
    interaction_matrix,
    map_column_blocks,
    normalize_bipartite,
    sparse_product,
    to_torch_sparse,
)

__all__ = [
    "Graph",
    "bipartite_adjacency",
    "column_ranges",
    "interaction_matrix",
    "map_column_blocks",
    "normalize_bipartite",
    "sparse_product",
    "adjacency_spmm",
    "to_torch_sparse",
]
