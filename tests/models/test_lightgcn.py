"""LightGCN: propagation by hand on a tiny graph, cosine output, the XSimGCL noise contrast,
spectral start, propagation in column blocks."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch

from lgrec.graph import Graph, normalize_bipartite
from lgrec.models import LightGCN

R = sp.csr_matrix(np.array([[1, 1, 0, 0], [0, 1, 1, 0], [0, 0, 1, 1]], dtype=np.float32))


def test_forward_is_the_mean_of_propagated_layers():
    graph = Graph.from_csr(R)
    model = LightGCN(3, 4, dim=5, layers=2).eval()
    x = torch.cat([model.user_embedding.weight, model.item_embedding.weight]).detach()
    degree = np.r_[R.sum(1).A1, R.sum(0).A1]
    A = np.block([[np.zeros((3, 3)), R.toarray()], [R.toarray().T, np.zeros((4, 4))]])
    A_hat = A / np.sqrt(np.outer(degree, degree))
    x1 = A_hat @ x.numpy()
    expected = (x.numpy() + x1 + A_hat @ x1) / 3
    users, items = model(graph)
    np.testing.assert_allclose(torch.cat([users, items]).detach().numpy(), expected, atol=1e-5)


def test_cosine_option_normalises_the_propagated_vectors():
    graph = Graph.from_csr(R)
    torch.manual_seed(0)
    plain = LightGCN(3, 4, dim=5, layers=2).eval()
    cosine = LightGCN(3, 4, dim=5, layers=2, normalize=True).eval()
    cosine.load_state_dict(plain.state_dict())
    for raw, unit in zip(plain(graph), cosine(graph), strict=True):
        expected = raw / raw.norm(dim=1, keepdim=True)
        np.testing.assert_allclose(unit.detach().numpy(), expected.detach().numpy(), atol=1e-6)
    assert cosine.params()["normalize"] is True


def test_noise_contrast_only_while_training():
    graph = Graph.from_csr(R)
    torch.manual_seed(0)
    model = LightGCN(3, 4, dim=8, layers=2, cl_weight=0.5, noise_eps=0.1)
    plain = LightGCN(3, 4, dim=8, layers=2)
    plain.load_state_dict(model.state_dict())
    model.eval()
    np.testing.assert_allclose(model(graph)[0].detach(), plain.eval()(graph)[0].detach())
    users = torch.tensor([0, 1, 2])
    assert float(model.auxiliary_loss(users, torch.tensor([0, 1]))) == 0.0

    model.train()
    noisy_users, _ = model(graph)
    assert not torch.allclose(noisy_users, plain(graph)[0])
    loss = model.auxiliary_loss(users, torch.tensor([0, 1, 3]))
    assert float(loss.detach()) > 0
    loss.backward()
    assert model.user_embedding.weight.grad.abs().sum() > 0

    without = LightGCN(3, 4, dim=8, layers=2).train()
    without(graph)
    assert float(without.auxiliary_loss(users, torch.tensor([0]))) == 0.0


def test_spectral_start_reproduces_the_low_rank_normalised_matrix():
    rng = np.random.default_rng(0)
    dense = (rng.random((30, 20)) < 0.3).astype(np.float32)
    dense[:, 0] = 1  # no empty rows or columns
    matrix = sp.csr_matrix(dense)
    model = LightGCN(30, 20, dim=6, init="spectral")
    model.initialize(Graph.from_csr(matrix))
    scores = (model.user_embedding.weight @ model.item_embedding.weight.t()).detach().numpy()
    u, s, vt = np.linalg.svd(normalize_bipartite(matrix, "sym").toarray())
    best = (u[:, :6] * s[:6]) @ vt[:6]
    ratio = scores.ravel() @ best.ravel() / (best.ravel() @ best.ravel())
    np.testing.assert_allclose(scores, ratio * best, atol=1e-4 * abs(ratio) * 30)
    # Rescaled to the row norm of a normal start.
    rows = torch.cat([model.user_embedding.weight, model.item_embedding.weight]).norm(dim=1)
    assert abs(rows.mean().item() - 0.1 * 6**0.5) < 1e-4


def test_propagation_in_column_blocks_matches_the_whole_table(monkeypatch):
    import lgrec.graph.adjacency as adjacency
    from lgrec.models.lightgcn import propagate

    rng = np.random.default_rng(0)
    users, items = rng.integers(0, 30, 200), rng.integers(0, 40, 200)
    graph = Graph.from_interactions(users, items, 30, 40)
    x = torch.randn(70, 192, generator=torch.Generator().manual_seed(0), requires_grad=True)
    whole = propagate(graph.adjacency, x, 3)
    (grad_whole,) = torch.autograd.grad((whole ** 2).sum(), x)
    monkeypatch.setattr(adjacency, "CACHE_BLOCK_BYTES", 70 * 64 * 4)  # three blocks of 64
    assert len(adjacency.column_ranges(x)) == 3
    blocked = propagate(graph.adjacency, x, 3)
    (grad_blocked,) = torch.autograd.grad((blocked ** 2).sum(), x)
    assert torch.allclose(blocked, whole, atol=1e-6)
    assert torch.allclose(grad_blocked, grad_whole, atol=1e-5)


def _mean_of_layers_by_hand(dense: torch.Tensor, x: torch.Tensor, layers: int) -> torch.Tensor:
    """The layer mean with a dense matrix, through autograd's graph of every layer."""
    outputs = [x]
    for _ in range(layers):
        outputs.append(dense @ outputs[-1])
    return torch.stack(outputs).mean(0)


def test_propagation_gradient_equals_the_gradient_through_each_layer():
    """The backward pass propagates the gradient instead of walking an autograd graph of the
    layers; both give the same gradient, for the model's two tables too."""
    from lgrec.models.lightgcn import propagate

    rng = np.random.default_rng(1)
    users, items = rng.integers(0, 25, 150), rng.integers(0, 35, 150)
    graph = Graph.from_interactions(users, items, 25, 35)
    dense = graph.adjacency.to_dense()
    x = torch.randn(60, 8, generator=torch.Generator().manual_seed(1), requires_grad=True)
    weights = torch.randn(60, 8, generator=torch.Generator().manual_seed(2))

    reference = _mean_of_layers_by_hand(dense, x, 3)
    (grad_reference,) = torch.autograd.grad((reference * weights).sum() ** 2, x)
    out = propagate(graph.adjacency, x, 3)
    (grad,) = torch.autograd.grad((out * weights).sum() ** 2, x)
    torch.testing.assert_close(out, reference, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(grad, grad_reference, atol=1e-4, rtol=1e-4)

    model = LightGCN(25, 35, dim=8, layers=3)
    user_vectors, item_vectors = model(graph)
    (user_vectors[:5].sum() + (item_vectors ** 2).sum()).backward()
    x = torch.cat([model.user_embedding.weight, model.item_embedding.weight]).detach()
    x.requires_grad_(True)
    mean = _mean_of_layers_by_hand(dense, x, 3)
    (mean[:5].sum() + (mean[25:] ** 2).sum()).backward()
    torch.testing.assert_close(model.user_embedding.weight.grad, x.grad[:25], atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(model.item_embedding.weight.grad, x.grad[25:], atol=1e-5, rtol=1e-4)


def test_degree_exponents_scale_the_messages_and_their_gradient():
    """Entry (a, b) of the adjacency is deg(a)^-target * deg(b)^-source; the custom backward
    (powers of the transpose) matches autograd through the dense product."""
    graph = Graph.from_csr(R)
    torch.manual_seed(0)
    model = LightGCN(3, 4, dim=5, layers=2, target_exponent=0.7, source_exponent=0.1)
    degree = np.r_[R.sum(1).A1, R.sum(0).A1]
    A = np.block([[np.zeros((3, 3)), R.toarray()], [R.toarray().T, np.zeros((4, 4))]])
    A_hat = torch.tensor(A * np.outer(degree**-0.7, degree**-0.1), dtype=torch.float32)
    x = torch.cat([model.user_embedding.weight, model.item_embedding.weight]).detach()
    x.requires_grad_(True)
    x1 = A_hat @ x
    expected = (x + x1 + A_hat @ x1) / 3
    weights = torch.randn(7, 5)
    (expected * weights).sum().backward()

    users, items = model(graph)
    out = torch.cat([users, items])
    np.testing.assert_allclose(out.detach().numpy(), expected.detach().numpy(), atol=1e-5)
    (out * weights).sum().backward()
    grad = torch.cat([model.user_embedding.weight.grad, model.item_embedding.weight.grad])
    np.testing.assert_allclose(grad.numpy(), x.grad.numpy(), atol=1e-5)
    assert model.params()["target_exponent"] == 0.7
    # 0.5 and 0.5 are the symmetric normalisation, the graph's own adjacency
    assert graph.scaled_adjacency(0.5, 0.5) is graph.adjacency
