"""Text-LightGCN: the cold-start alignment term and the text neighbour graph against direct
computations."""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from lgrec.graph import Graph
from lgrec.models.lightgcn import propagate
from lgrec.models.text_lightgcn import TextLightGCN

USERS = np.array([0, 0, 1, 2, 2, 3])
ITEMS = np.array([0, 1, 1, 2, 3, 4])


def tiny_model(text_weight: float) -> tuple[TextLightGCN, Graph]:
    torch.manual_seed(0)
    text = torch.randn(5, 12)
    model = TextLightGCN(4, 5, text, dim=8, hidden=16, layers=2, text_weight=text_weight,
                         text_temperature=0.5)
    return model, Graph.from_interactions(USERS, ITEMS, 4, 5)


def test_alignment_term_is_in_batch_infonce_over_text_projections():
    model, graph = tiny_model(text_weight=2.0)
    model.train()
    user_vectors, _ = model(graph)
    users = torch.tensor([0, 1, 2, 3])
    items = torch.tensor([1, 1, 3, 4])  # item 1 twice: neither copy is the other's negative
    loss = model.auxiliary_loss(users, items)

    text = F.normalize(model.project_items(model.item_text), dim=1).detach()
    u = user_vectors.detach()
    expected = []
    for row, (user, item) in enumerate(zip(users.tolist(), items.tolist(), strict=True)):
        logits = [float(u[user] @ text[other]) / 0.5 for col, other in enumerate(items.tolist())
                  if col == row or other != item]
        positive = float(u[user] @ text[item]) / 0.5
        expected.append(math.log(sum(math.exp(x) for x in logits)) - positive)
    assert abs(loss.item() - 2.0 * np.mean(expected)) < 1e-5
    loss.backward()
    assert model.item_projection[0].weight.grad.abs().sum() > 0


def test_alignment_term_is_off_by_default_and_in_evaluation():
    model, graph = tiny_model(text_weight=0.0)
    model.train()
    model(graph)
    assert float(model.auxiliary_loss(torch.tensor([0]), torch.tensor([1]))) == 0.0
    weighted, _ = tiny_model(text_weight=1.0)
    weighted.eval()
    weighted(graph)
    assert float(weighted.auxiliary_loss(torch.tensor([0]), torch.tensor([1]))) == 0.0


def test_text_neighbour_graph_links_each_item_to_its_closest_texts():
    # Items 0-1 and 2-3 have near-identical texts, item 4 is far from all.
    basis = torch.eye(12)
    text = basis[:5].clone()
    text[1] = basis[0] + 0.05 * basis[5]
    text[3] = basis[2] + 0.05 * basis[6]
    model = TextLightGCN(4, 5, text, dim=8, hidden=16, layers=2, text_neighbours=1)
    graph = model.item_graph().to_dense()
    assert torch.equal(graph, graph.t())  # symmetrised
    assert graph[0, 1] > 0 and graph[2, 3] > 0
    assert graph[0, 2] == 0 and graph[1, 3] == 0
    # D^-1/2 S D^-1/2 on the 0/1 adjacency.
    adjacency = (graph > 0).float()
    degree = adjacency.sum(1)
    expected = adjacency / torch.sqrt(degree[:, None] * degree[None, :])
    torch.testing.assert_close(graph, expected)


def test_text_neighbours_add_smoothed_item_vectors_to_the_propagated_ones():
    torch.manual_seed(0)
    text = torch.randn(5, 12)
    plain = TextLightGCN(4, 5, text, dim=8, hidden=16, layers=2).eval()
    smoothed = TextLightGCN(4, 5, text, dim=8, hidden=16, layers=2, text_neighbours=2).eval()
    smoothed.load_state_dict(plain.state_dict())
    graph = Graph.from_interactions(USERS, ITEMS, 4, 5)
    layer0 = plain.layer0(graph)
    propagated = propagate(graph.adjacency, layer0, 2)[4:]
    users, _ = plain(graph)
    users2, items2 = smoothed(graph)
    torch.testing.assert_close(users2, users)
    expected = propagated + smoothed.item_graph().to_dense() @ layer0[4:]
    torch.testing.assert_close(items2, F.normalize(expected, dim=1))
