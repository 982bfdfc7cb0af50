"""The model protocol's shared helpers."""

from __future__ import annotations

import torch

from lgrec.models.base import Model


def test_split_nodes_gives_views_whose_gradients_reach_the_node_table():
    model = Model(n_users=3, n_items=4)
    nodes = torch.arange(14.0).reshape(7, 2).requires_grad_(True)
    users, items = model.split_nodes(nodes)
    assert users.shape == (3, 2) and items.shape == (4, 2)
    assert users.data_ptr() == nodes.data_ptr()  # views, not copies
    torch.testing.assert_close(items, nodes[3:])

    # Only one side in the loss: the other side's rows get zero gradient.
    (items ** 2).sum().backward()
    expected = torch.cat([torch.zeros(3, 2), 2 * nodes[3:].detach()])
    torch.testing.assert_close(nodes.grad, expected)
