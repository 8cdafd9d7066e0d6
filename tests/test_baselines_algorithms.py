"""The training-free baselines' algorithms (hashlib_core.baselines): hand computations and exact properties."""

import numpy as np
import pytest
import scipy.optimize

from hashlib_core.baselines.cca import CCA, CCAHash
from hashlib_core.baselines.classifier import (ClassifierHash, LinearClassifier, choose_l2, jaccard,
                                               logistic_loss)
from hashlib_core.baselines.common_space import GCCA, CommonSpace, CrossViewHash, choose_reg
from hashlib_core.baselines.itq import ITQHash, itq, quantization_loss
from hashlib_core.baselines.linear import (PCA, holdout_rows, procrustes, random_orthogonal, row_space,
                                           sign_codes)
from hashlib_core.baselines.lsh import LSHHash
from hashlib_core.baselines.pca_rotation import PCARotationHash
from hashlib_core.baselines.ridge import fit_ridge_hasher
from hashlib_core.baselines.ridge_sham import RidgeShamHash
from hashlib_core.models.sham import solve_sham


def _rng(seed=0):
    return np.random.default_rng(seed)


# ------------------------------------------------------------------------------------------------ linear pieces

@pytest.mark.parametrize("shape", [(6, 6), (7, 3), (3, 8)])
def test_random_orthogonal_is_orthonormal_and_seeded(shape):
    R = random_orthogonal(*shape, _rng(4))
    small = min(shape)
    gram = R.T @ R if shape[0] >= shape[1] else R @ R.T
    assert R.shape == shape
    np.testing.assert_allclose(gram, np.eye(small), atol=1e-12)
    np.testing.assert_array_equal(R, random_orthogonal(*shape, _rng(4)))
    assert not np.allclose(R, random_orthogonal(*shape, _rng(5)))


def test_procrustes_hand_example_and_optimality():
    # M = [[0, 2], [1, 0]]: the best orthogonal R is the swap [[0, 1], [1, 0]], trace(R^T M) = 3
    np.testing.assert_allclose(procrustes(np.array([[0.0, 2.0], [1.0, 0.0]])), [[0, 1], [1, 0]], atol=1e-12)
    M = _rng(1).standard_normal((4, 6))
    R = procrustes(M)
    np.testing.assert_allclose(R @ R.T, np.eye(4), atol=1e-12)
    best = np.trace(R.T @ M)
    for seed in range(50):
        other = random_orthogonal(4, 6, _rng(100 + seed))
        assert np.trace(other.T @ M) <= best + 1e-12


def test_pca_hand_example_and_both_solvers_agree():
    X = np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 0.5], [0.0, -0.5]])
    pca = PCA.fit(X)
    np.testing.assert_allclose(pca.variances, [2 / 3, 1 / 6])
    np.testing.assert_allclose(np.abs(pca.components), np.eye(2), atol=1e-12)
    # n >= d (covariance eigh) and n < d (Gram matrix) give the same components
    data = _rng(2).standard_normal((8, 5)) @ _rng(3).standard_normal((5, 12))
    wide = PCA.fit(data)                       # 8 rows < 12 columns
    tall = PCA.fit(np.vstack([data, data]))    # the same directions with twice the rows
    assert wide.dim == tall.dim == 5          # rank of the centred data
    np.testing.assert_allclose(wide.components, tall.components, atol=1e-8)
    np.testing.assert_allclose(2 * wide.variances * 7, tall.variances * 15, rtol=1e-8)  # sums of squares double
    with pytest.raises(ValueError, match="zero variance"):
        PCA.fit(np.ones((4, 3)))
    with pytest.raises(ValueError, match="columns"):
        pca.transform(np.ones((2, 3)))


def test_row_space_is_the_svd():
    data = _rng(5).standard_normal((6, 9))
    values, directions = row_space(data)
    _, singular, vt = np.linalg.svd(data, full_matrices=False)
    np.testing.assert_allclose(values, singular ** 2, rtol=1e-10)
    np.testing.assert_allclose(np.abs(directions), np.abs(vt.T), atol=1e-8)


def test_holdout_rows_partition_and_stratify():
    labels = np.eye(3, dtype=np.uint8)[np.repeat([0, 1, 2], [10, 5, 2])]
    fit, held = holdout_rows(17, 3, labels=labels)
    assert np.intersect1d(fit, held).size == 0 and np.union1d(fit, held).tolist() == list(range(17))
    assert all(labels[fit][:, c].sum() >= 1 for c in range(3))
    assert labels[held][:, 0].sum() == 2 and labels[held][:, 1].sum() == 1
    np.testing.assert_array_equal(held, holdout_rows(17, 3, labels=labels)[1])
    with pytest.raises(ValueError, match="fraction"):
        holdout_rows(10, 0, fraction=1.0)


# ------------------------------------------------------------------------------------------------ LSH, ITQ, rotation

def test_lsh_is_the_sign_of_a_seeded_gaussian_projection():
    X = _rng(6).standard_normal((20, 4)) + 3.0
    codes = LSHHash(8, seed=11).fit(X).encode(X)
    P = np.random.default_rng(11).standard_normal((4, 8))
    np.testing.assert_array_equal(codes, np.where((X - X.mean(0)) @ P > 0, 1, -1))
    assert codes.dtype == np.int8


def test_lsh_hamming_distance_estimates_the_angle():
    # random hyperplanes: P(bit differs) = angle / pi (Charikar); 20,000 bits make the estimate tight
    train = np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0]])    # mean 0: centring changes nothing
    hasher = LSHHash(20000, seed=0).fit(train)
    angle = np.pi / 3
    pair = np.array([[1.0, 0.0], [np.cos(angle), np.sin(angle)]])
    codes = hasher.encode(pair)
    assert abs(np.mean(codes[0] != codes[1]) - angle / np.pi) < 0.015


def test_itq_steps_are_exact_and_the_loss_never_increases():
    V = _rng(7).standard_normal((200, 6)) @ np.diag([3, 2, 1.5, 1, 0.5, 0.2])
    result = itq(V, iterations=30, seed=1)
    loss = np.array(result.loss)
    assert loss.size == 30 and np.all(np.diff(loss) <= 1e-9) and loss[0] <= result.initial_loss + 1e-9
    R = result.rotation
    np.testing.assert_allclose(R @ R.T, np.eye(6), atol=1e-10)
    B = sign_codes(V @ R).astype(float)
    # the R step is the exact minimiser for fixed B: no random rotation does better
    best = quantization_loss(V, B, procrustes(V.T @ B))
    assert all(best <= quantization_loss(V, B, random_orthogonal(6, 6, _rng(50 + s))) + 1e-9 for s in range(30))


def test_itq_recovers_rotated_square_corners():
    # 2-D: the loss over the rotation angle has only the 90-degree-symmetric copies of one minimum, so ITQ from
    # any start reaches loss 0 on exactly rotated corners of the square
    corners = np.array([[1.0, 1.0], [1.0, -1.0], [-1.0, 1.0], [-1.0, -1.0]])
    angle = 0.35
    R0 = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    original = np.repeat(corners, 5, axis=0)
    V = original @ R0.T
    for seed in range(3):
        result = itq(V, iterations=50, seed=seed)
        assert result.loss[-1] < 1e-6
        codes = sign_codes(V @ result.rotation)
        # equal up to a permutation / sign flip of the bits: pairwise Hamming distances are preserved
        dist = lambda c: (c[:, None, :] != c[None, :, :]).sum(-1)  # noqa: E731
        np.testing.assert_array_equal(dist(codes), dist(original.astype(np.int8)))


def test_itq_with_more_bits_than_dimensions_uses_orthonormal_rows():
    V = _rng(9).standard_normal((100, 3))
    result = itq(V, 8, iterations=20, seed=0)
    assert result.rotation.shape == (3, 8)
    np.testing.assert_allclose(result.rotation @ result.rotation.T, np.eye(3), atol=1e-10)
    assert np.all(np.diff(result.loss) <= 1e-9)
    with pytest.raises(ValueError, match="bits"):
        itq(V, 2)


def test_itq_hash_and_pca_rotation_hand_recomputed():
    X = _rng(10).standard_normal((60, 10)) @ _rng(11).standard_normal((10, 10))
    hasher = ITQHash(4, seed=3, iterations=10).fit(X)
    pca = PCA.fit(X, 4)
    expected = itq(pca.transform(X), 4, iterations=10, seed=3).rotation
    np.testing.assert_array_equal(hasher.encode(X), sign_codes(pca.transform(X) @ expected))
    rot = PCARotationHash(4, seed=3).fit(X)
    R = random_orthogonal(4, 4, np.random.default_rng(3))
    np.testing.assert_array_equal(rot.encode(X), sign_codes(pca.transform(X) @ R))
    # fewer usable dimensions than bits: PCA keeps the rank, the rotation has orthonormal rows
    low = PCARotationHash(16, seed=0).fit(X[:, :3])
    assert low.rotation_.shape == (3, 16) and low.encode(X[:, :3]).shape == (60, 16)


# ------------------------------------------------------------------------------------------------ common spaces

def _paired_views(n=400, seed=0):
    rng = _rng(seed)
    z = rng.standard_normal((n, 3))
    x = np.hstack([z, rng.standard_normal((n, 4))]) @ rng.standard_normal((7, 7))
    y = np.hstack([z + 0.5 * rng.standard_normal((n, 3)), rng.standard_normal((n, 2))]) @ rng.standard_normal((5, 5))
    w = np.hstack([z[:, :2] + 0.7 * rng.standard_normal((n, 2)), rng.standard_normal((n, 3))])
    return z, x, y, w


def test_gcca_of_two_views_is_cca():
    _, x, y, _ = _paired_views()
    cca = CCA().fit(x, y)
    gcca = GCCA().fit({"x": x, "y": y})
    # eigenvalues 1 + rho, weights CCA's / sqrt(2) (up to the sign of each component)
    np.testing.assert_allclose(gcca.eigenvalues_ - 1, cca.correlations_, atol=1e-10)
    np.testing.assert_allclose(np.abs(gcca.weights_["x"]), np.abs(cca.x_weights_) / np.sqrt(2), atol=1e-10)
    np.testing.assert_allclose(np.abs(gcca.weights_["y"]), np.abs(cca.y_weights_) / np.sqrt(2), atol=1e-10)


def test_gcca_recovers_the_direction_three_views_share():
    z, x, y, w = _paired_views(seed=1)
    gcca = GCCA().fit({"x": x, "y": y, "w": w})
    assert 1 < gcca.eigenvalues_[-1] and gcca.eigenvalues_[0] <= 3 + 1e-9
    assert np.all(np.diff(gcca.eigenvalues_) <= 1e-12)
    # the three leading shared directions are the latent z: in the views that hold all of it, each projection
    # is (nearly) a linear function of z
    for view, data in (("x", x), ("y", y)):
        projection = gcca.transform(view, data)[:, :3]
        fitted = z @ np.linalg.lstsq(z, projection, rcond=None)[0]
        for c in range(3):
            assert np.corrcoef(fitted[:, c], projection[:, c])[0, 1] > 0.85
    with pytest.raises(ValueError, match="paired rows"):
        GCCA().fit({"x": x, "y": y[:10]})


def test_cross_view_lsh_is_cca_hash_for_two_views():
    _, x, y, _ = _paired_views(seed=2)
    ours = CrossViewHash("lsh", 16, seed=5, reg=0.0).fit({"image": x, "text": y})
    reference = CCAHash(16, seed=5).fit(x, y)     # 5 canonical components <= 16 bits
    np.testing.assert_array_equal(ours.encode("image", x), reference.encode_x(x))
    np.testing.assert_array_equal(ours.encode("text", y), reference.encode_y(y))


@pytest.mark.parametrize("mode", ["lsh", "rotation", "itq"])
def test_cross_view_codes_align_the_views(mode):
    _, x, y, w = _paired_views(n=600, seed=3)
    views = {"x": x, "y": y, "w": w}
    hasher = CrossViewHash(mode, 8, seed=0).fit(views)
    codes = {v: hasher.encode(v, d) for v, d in views.items()}
    # paired items agree on far more bits than unpaired ones
    paired = np.mean(codes["x"] == codes["y"])
    shuffled = np.mean(codes["x"] == codes["y"][_rng(0).permutation(600)])
    assert paired > shuffled + 0.1
    assert set(hasher.describe()) >= {"mode", "kind", "components", "reg", "reg_scores"}


def test_choose_reg_prefers_a_ridge_when_views_outnumber_rows():
    rng = _rng(4)
    z = 3.0 * rng.standard_normal((60, 2))         # a strong shared signal among many weak private dimensions
    views = {"a": np.hstack([z, rng.standard_normal((60, 100))]), "b": np.hstack([z, rng.standard_normal((60, 90))])}
    reg, scores = choose_reg(views, components=2, seed=0)
    assert reg > 0 and set(scores) == {"0.0", "0.001", "0.01", "0.1", "1.0"}
    _, x, y, _ = _paired_views(seed=5)
    assert choose_reg({"x": x, "y": y}, components=4, seed=0)[0] < 0.1
    space = CommonSpace(None, reg=reg).fit(views)
    assert space.describe()["kind"] == "cca"


# ------------------------------------------------------------------------------------------------ classifier, ridge

@pytest.mark.parametrize("multilabel", [False, True])
def test_logistic_gradient_matches_finite_differences(multilabel):
    rng = _rng(12)
    X = rng.standard_normal((15, 4))
    Y = (rng.random((15, 3)) < 0.4).astype(float) if multilabel else np.eye(3)[rng.integers(0, 3, 15)]
    params = rng.standard_normal(4 * 3 + 3) * 0.3
    _, grad = logistic_loss(params, X, Y, 0.1, multilabel)
    numeric = scipy.optimize.approx_fprime(params, lambda p: logistic_loss(p, X, Y, 0.1, multilabel)[0], 1e-7)
    np.testing.assert_allclose(grad, numeric, atol=1e-5)


def test_logistic_loss_hand_value():
    # W = 0, b = 0, two classes: every row costs log 2; the penalty is 0
    X, Y = np.ones((4, 2)), np.eye(2)[[0, 1, 0, 0]]
    loss, _ = logistic_loss(np.zeros(2 * 2 + 2), X, Y, 1.0, False)
    assert loss == pytest.approx(np.log(2))


def test_classifier_strong_penalty_predicts_the_class_prior():
    rng = _rng(13)
    X = rng.standard_normal((40, 3))
    labels = np.eye(2, dtype=np.uint8)[np.r_[np.zeros(30, int), np.ones(10, int)]]
    model = LinearClassifier(1e6).fit(X, labels)
    np.testing.assert_allclose(model.predict_proba(X[:3]), [[0.75, 0.25]] * 3, atol=1e-3)


def test_classifier_separates_separable_classes_and_multilabel_rule():
    rng = _rng(14)
    centres = np.array([[4.0, 0], [-4, 0], [0, 4]])
    ids = rng.integers(0, 3, 90)
    X = centres[ids] + 0.3 * rng.standard_normal((90, 2))
    labels = np.eye(3, dtype=np.uint8)[ids]
    model = LinearClassifier(1e-3).fit(X, labels)
    assert not model.multilabel_
    np.testing.assert_array_equal(model.predict(X), labels)
    multi = labels.copy()
    multi[:5, 2] = 1                               # a few rows with two labels: sigmoids
    model = LinearClassifier(1e-2).fit(X, multi)
    assert model.multilabel_ and model.predict(X).sum(axis=1).min() >= 1
    assert jaccard(np.array([[1, 0, 1], [0, 0, 0]]), np.array([[1, 1, 0], [0, 0, 0]])) == pytest.approx((1 / 3 + 1) / 2)


def test_classifier_row_space_solution_is_the_full_solution():
    rng = _rng(15)
    X = rng.standard_normal((12, 40))              # more features than rows
    labels = np.eye(3, dtype=np.uint8)[np.arange(12) % 3]
    model = LinearClassifier(0.5).fit(X, labels)
    Z = (X - model.mean_) / model.std_
    full = scipy.optimize.minimize(logistic_loss, np.zeros(40 * 3 + 3), args=(Z, labels.astype(float), 0.5, False),
                                   jac=True, method="L-BFGS-B", options={"maxiter": 2000, "gtol": 1e-10})
    np.testing.assert_allclose(model.coef_, full.x[:120].reshape(40, 3), atol=2e-4)
    np.testing.assert_allclose(model.intercept_, full.x[120:], atol=2e-4)


def test_choose_l2_and_classifier_hash_use_sham_codes():
    rng = _rng(16)
    ids = rng.integers(0, 4, 120)
    X = np.eye(4)[ids] * 2 + 0.8 * rng.standard_normal((120, 4))
    labels = np.eye(4, dtype=np.uint8)[ids]
    l2, scores = choose_l2(X, labels, seed=0)
    assert l2 in (1e-4, 1e-3, 1e-2, 1e-1, 1.0) and len(scores) == 5
    sham = solve_sham(np.eye(4), 8, iterations=5, seed=0)
    hasher = ClassifierHash(sham, seed=0).fit(X, labels)
    np.testing.assert_array_equal(hasher.encode(X), sham.target_codes(hasher.predict(X)))
    assert len({tuple(row) for row in hasher.encode(X)}) <= 4     # one code per predicted class
    with pytest.raises(ValueError, match="labels"):
        ClassifierHash(sham).fit(X, labels[:, :3])


def test_ridge_dual_form_equals_the_primal():
    rng = _rng(17)
    X, T = rng.standard_normal((10, 30)), np.where(rng.random((10, 6)) < 0.5, -1.0, 1.0)
    dual, primal = fit_ridge_hasher(X, T, ridge=2.0, form="dual"), fit_ridge_hasher(X, T, ridge=2.0, form="primal")
    assert np.array_equal(fit_ridge_hasher(X, T, ridge=2.0).coef, dual.coef)  # auto: n < d -> dual
    np.testing.assert_allclose(dual.coef, primal.coef, atol=1e-10)
    np.testing.assert_allclose(dual.intercept, primal.intercept)
    sham = solve_sham(np.eye(3), 6, iterations=5, seed=1)
    labels = np.eye(3, dtype=np.uint8)[np.arange(30) % 3]
    features = labels @ rng.standard_normal((3, 5)) + 0.1 * rng.standard_normal((30, 5))
    hasher = RidgeShamHash(sham, seed=0).fit(features, labels)
    assert hasher.describe()["ridge"] in (0.1, 1.0, 10.0, 100.0, 1e3, 1e4, 1e5)
    assert np.mean(hasher.encode(features) == sham.target_codes(labels)) > 0.95


def test_gcca_whitening_in_the_row_space_equals_the_covariance_route(monkeypatch):
    """With more dimensions than rows each view is whitened on its row space (an n x n problem); the result equals
    whitening the full d x d covariance (where the GCCA is unique, i.e. with a ridge)."""
    import hashlib_core.baselines.common_space as cs

    rng = _rng(18)
    z = rng.standard_normal((40, 2))
    views = {"a": np.hstack([z, rng.standard_normal((40, 60))]), "b": np.hstack([z, rng.standard_normal((40, 50))]),
             "c": np.hstack([z, rng.standard_normal((40, 30))])}
    fast = GCCA(reg=0.1).fit(views)

    def covariance_whitener(centred, reg, rank_tol, name):
        n, d = centred.shape
        cov = centred.T @ centred / (n - 1)
        values, vectors = np.linalg.eigh(cov + reg * (np.trace(cov) / d) * np.eye(d))
        keep = values > rank_tol * values.max()
        return vectors[:, keep] / np.sqrt(values[keep])

    monkeypatch.setattr(cs, "_whitener", covariance_whitener)
    slow = GCCA(reg=0.1).fit(views)
    np.testing.assert_allclose(fast.eigenvalues_, slow.eigenvalues_, atol=1e-10)
    test = rng.standard_normal((5, 62))
    np.testing.assert_allclose(fast.transform("a", test), slow.transform("a", test), atol=1e-8)


def test_classifier_hash_reuses_an_identical_fit_across_code_lengths():
    rng = _rng(19)
    ids = rng.integers(0, 3, 60)
    X = np.eye(3)[ids] + 0.5 * rng.standard_normal((60, 3))
    labels = np.eye(3, dtype=np.uint8)[ids]
    first = ClassifierHash(solve_sham(np.eye(3), 8, iterations=3, seed=0), l2=0.37, seed=1).fit(X, labels)
    second = ClassifierHash(solve_sham(np.eye(3), 16, iterations=3, seed=0), l2=0.37, seed=1).fit(X, labels)
    assert not first.describe()["fit_reused"] and second.describe()["fit_reused"]
    np.testing.assert_array_equal(first.predict(X), second.predict(X))
    assert second.encode(X).shape == (60, 16)
    changed = X.copy()
    changed[0, 0] += 1.0
    assert not ClassifierHash(second.sham, l2=0.37, seed=1).fit(changed, labels).describe()["fit_reused"]
