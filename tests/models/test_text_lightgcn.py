"""Text-LightGCN's cold-start alignment term against a direct computation."""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from lgrec.graph import Graph
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
