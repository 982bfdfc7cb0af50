"""GAT: the edge softmax and the sparse aggregation against dense computations, the symmetric
normalisation's LightGCN starting point, quality over popularity on MovieLens-100K after a few
epochs, and the artifact round trip."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from lgrec.graph import Graph
from lgrec.models.gat import GAT, attention_aggregate, edge_index, edge_softmax, reverse_edges
from lgrec.models.lightgcn import propagate

# 3 users x 4 items; item 3 has no interactions (an isolated node must not break the softmax).
R = sp.csr_matrix(np.array([[1, 1, 0, 0], [0, 1, 1, 0], [1, 0, 1, 0]], dtype=np.float32))


def test_edge_softmax_sums_to_one_per_node():
    graph = Graph.from_csr(R)
    source, destination = edge_index(graph.adjacency)
    n = graph.n_nodes
    # Large logits would overflow a plain exp; the per-node maximum keeps them finite.
    logits = torch.tensor(np.random.default_rng(0).normal(scale=300.0, size=len(source)),
                          dtype=torch.float32)
    alpha = edge_softmax(logits, destination, n)
    assert torch.isfinite(alpha).all()
    sums = torch.zeros(n).index_add(0, destination, alpha)
    has_edges = torch.bincount(destination, minlength=n) > 0
    torch.testing.assert_close(sums[has_edges], torch.ones(int(has_edges.sum())))
    assert not has_edges[n - 1] and sums[n - 1] == 0
    # Against a dense row-wise softmax over each node's neighbours.
    dense = torch.full((n, n), -torch.inf)
    dense[destination, source] = logits
    expected = torch.softmax(dense[has_edges], dim=1)
    got = torch.zeros(n, n)
    got[destination, source] = alpha
    torch.testing.assert_close(got[has_edges], expected)


def test_edge_list_covers_both_directions():
    graph = Graph.from_csr(R)
    source, destination = edge_index(graph.adjacency)
    assert len(source) == 2 * R.nnz
    reverse = reverse_edges(source, destination, graph.n_nodes)
    assert torch.equal(source[reverse], destination) and torch.equal(destination[reverse], source)


def test_sparse_aggregation_matches_dense_and_its_gradient():
    graph = Graph.from_csr(R)
    source, destination = edge_index(graph.adjacency)
    reverse = reverse_edges(source, destination, graph.n_nodes)
    adjacency = graph.adjacency.to(torch.float64)
    weights = torch.rand(len(source), dtype=torch.float64, requires_grad=True)
    h = torch.randn(graph.n_nodes, 3, dtype=torch.float64, requires_grad=True)
    dense = torch.zeros(graph.n_nodes, graph.n_nodes, dtype=torch.float64)
    dense[destination, source] = weights.detach()
    torch.testing.assert_close(attention_aggregate(weights, h, adjacency, reverse), dense @ h)
    assert torch.autograd.gradcheck(
        lambda w, x: attention_aggregate(w, x, adjacency, reverse), (weights, h)
    )


def test_symmetric_normalisation_starts_as_lightgcn():
    graph = Graph.from_csr(R)
    model = GAT(3, 4, dim=5, layers=3)  # identity transforms, zero attention vectors
    users, items = model(graph)
    x = torch.cat([model.user_embedding.weight, model.item_embedding.weight])
    torch.testing.assert_close(torch.cat([users, items]), propagate(graph.adjacency, x, 3))


def test_softmax_normalisation_weights_sum_to_one():
    graph = Graph.from_csr(R)
    torch.manual_seed(0)
    model = GAT(3, 4, dim=5, layers=1, normalization="softmax")
    torch.nn.init.normal_(model.attention_source[0])
    torch.nn.init.normal_(model.attention_destination[0])
    edges = model._edges(graph.adjacency)
    x = torch.cat([model.user_embedding.weight, model.item_embedding.weight])
    alpha = model.attention(x @ model.weights[0], edges, 0)
    sums = torch.zeros(graph.n_nodes).index_add(0, edges.destination, alpha.detach())
    torch.testing.assert_close(sums[:6], torch.ones(6))


def test_gradients_reach_every_weight():
    graph = Graph.from_csr(R)
    torch.manual_seed(0)
    model = GAT(3, 4, dim=4, layers=2)
    for vector in (*model.attention_source, *model.attention_destination):
        torch.nn.init.normal_(vector)  # zero attention vectors would give zero score gradients
    users, items = model(graph)
    ((users @ items.T) ** 2).sum().backward()
    for name, parameter in model.named_parameters():
        if name.startswith("item_embedding"):  # the isolated item 3 gets no gradient, by design
            assert parameter.grad[:3].abs().sum() > 0
            continue
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name


@pytest.fixture(scope="module")
def fitted(fit_briefly):
    return fit_briefly("gat")


@pytest.mark.slow
def test_beats_popularity_on_movielens(fitted, ml100k_split, popularity_ndcg):
    assert fitted.evaluate(ml100k_split[2], k=[10])["ndcg@10"] > 1.5 * popularity_ndcg


@pytest.mark.slow
def test_save_load_round_trip(fitted, check_round_trip):
    check_round_trip(fitted)
