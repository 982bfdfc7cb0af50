import numpy as np
import scipy.sparse as sp

from lgrec.train import UniformSampler


def test_negatives_are_never_positives_and_epochs_are_reproducible():
    rng = np.random.default_rng(0)
    R = sp.random(200, 50, density=0.3, random_state=1, format="csr")
    sampler = UniformSampler(R, seed=5)
    users, positives, negatives = sampler.epoch(0, negatives=3)
    assert len(users) == R.nnz and negatives.shape == (R.nnz, 3)
    dense = R.toarray() > 0
    assert dense[users, positives].all()
    assert not dense[users[:, None], negatives].any()
    again = sampler.epoch(0, negatives=3)
    assert all(np.array_equal(a, b) for a, b in zip((users, positives, negatives), again, strict=True))
    assert not np.array_equal(negatives, sampler.epoch(1, negatives=3)[2])
    assert rng is not None


def test_every_interaction_once_per_epoch():
    R = sp.csr_matrix(np.array([[1, 0, 1], [0, 1, 0]], dtype=np.float32))
    users, positives, _ = UniformSampler(R, seed=0).epoch(3)
    assert sorted(zip(users.tolist(), positives.tolist(), strict=True)) == [(0, 0), (0, 2), (1, 1)]


def test_positive_mask_matches_pairwise_lookup():
    rng = np.random.default_rng(1)
    R = sp.random(60, 40, density=0.2, format="csr", random_state=2)
    sampler = UniformSampler(R)
    users = rng.integers(0, 60, size=25)
    items = rng.choice(40, size=15, replace=False)
    mask = sampler.positive_mask(users, items)
    expected = R.toarray()[np.ix_(users, items)] > 0
    assert mask.shape == (25, 15) and mask.any()
    np.testing.assert_array_equal(mask, expected)
    grid = sampler.is_positive(np.repeat(users, 15), np.tile(items, 25)).reshape(25, 15)
    np.testing.assert_array_equal(mask, grid)


def test_membership_by_row_search_matches_the_matrix():
    """Every (user, item) pair, including users without interactions, rows given unsorted
    and items at both ends of a row."""
    R = sp.random(40, 30, density=0.25, format="csr", random_state=3)
    R = (sp.diags((np.arange(40) != 5).astype(np.float32)) @ R).tocsr()  # row 5 empty
    R.eliminate_zeros()
    R.data[:] = 1
    shuffled = R.copy()
    for row in range(R.shape[0]):  # same matrix, columns stored out of order
        start, stop = shuffled.indptr[row], shuffled.indptr[row + 1]
        shuffled.indices[start:stop] = shuffled.indices[start:stop][::-1]
    shuffled.has_sorted_indices = False
    users, items = np.divmod(np.arange(40 * 30), 30)
    expected = R.toarray()[users, items] > 0
    for matrix in (R, shuffled):
        np.testing.assert_array_equal(UniformSampler(matrix).is_positive(users, items), expected)


def test_first_draw_search_in_interaction_order_matches_the_matrix():
    """The epoch's first-draw membership (queries regrouped by user, one search over R's
    sorted keys) gives the answers of the dense matrix, for one and for several negatives,
    with rows given unsorted, and nothing for an empty matrix."""
    R = sp.random(60, 25, density=0.3, format="csr", random_state=7)
    R.data[:] = 1
    shuffled = R.copy()
    for row in range(R.shape[0]):
        start, stop = shuffled.indptr[row], shuffled.indptr[row + 1]
        shuffled.indices[start:stop] = shuffled.indices[start:stop][::-1]
    shuffled.has_sorted_indices = False
    dense = R.toarray() > 0
    rng = np.random.default_rng(4)
    for matrix in (R, shuffled):
        sampler = UniformSampler(matrix)
        order = rng.permutation(len(sampler))
        for negatives in (1, 3):
            drawn = rng.integers(0, 25, size=len(order) * negatives)
            users = np.repeat(sampler.users[order], negatives)
            np.testing.assert_array_equal(
                sampler._first_draw_positive(order, drawn, negatives), dense[users, drawn])
    empty = UniformSampler(sp.csr_matrix((4, 6)))
    assert not empty._first_draw_positive(np.arange(0), np.arange(0), 2).any()
    users, positives, negatives = empty.epoch(0, 2)
    assert len(users) == len(positives) == len(negatives) == 0
