"""PCA colours of token features: deterministic, sign-fixed, fitted once on the whole map."""

import numpy as np

from napari_bright4b.analysis.pca import TokenPCA, pca_rgb


def features(seed=0, tokens=(6, 10, 12), dim=16):
    """Token features ``(dim, Z, Y, X)`` whose spread is mostly along channels 3, then 7, then 11."""
    rng = np.random.default_rng(seed)
    values = 0.01 * rng.standard_normal((dim, *tokens))
    for channel, spread in ((3, 5.0), (7, 2.0), (11, 1.0)):
        values[channel] += spread * rng.standard_normal(tokens)
    return values.astype(np.float32)


def test_components_are_the_directions_of_largest_spread_with_a_positive_largest_loading():
    flat = features().reshape(16, -1).T
    pca = TokenPCA.fit(flat)
    np.testing.assert_allclose(np.abs(pca.components), np.eye(16)[[3, 7, 11]], atol=0.02)
    assert (pca.components[np.arange(3), [3, 7, 11]] > 0).all()
    np.testing.assert_allclose(pca.components @ pca.components.T, np.eye(3), atol=1e-9)
    flipped = TokenPCA.fit(-flat)  # the same directions: the sign fix makes them the same components
    np.testing.assert_allclose(flipped.components, pca.components, atol=1e-9)


def test_rgb_is_deterministic_and_spans_the_range_with_robust_limits():
    values = features()
    rgb = pca_rgb(values)
    assert rgb.shape == (6, 10, 12, 3) and rgb.dtype == np.uint8
    np.testing.assert_array_equal(rgb, pca_rgb(values.copy()))
    for channel in range(3):  # 1st to 99th percentile -> 0..255: about 1% of tokens saturate at each end
        assert 0.003 < (rgb[..., channel] == 0).mean() < 0.03 and 0.003 < (rgb[..., channel] == 255).mean() < 0.03
    red = (values[3] - values[3].min()) / np.ptp(values[3])
    assert np.corrcoef(red.ravel(), rgb[..., 0].ravel())[0, 1] > 0.95  # red follows the strongest direction


def test_a_sample_fit_is_seeded_and_colours_agree_wherever_features_agree():
    values = features(tokens=(8, 40, 40))
    values[:, 7, 39, 39] = values[:, 0, 0, 0]  # the same feature at opposite corners of the volume
    rgb = pca_rgb(values, seed=3, max_samples=2000)
    np.testing.assert_array_equal(rgb, pca_rgb(values, seed=3, max_samples=2000))
    np.testing.assert_array_equal(rgb[7, 39, 39], rgb[0, 0, 0])
    close = pca_rgb(values, seed=4, max_samples=2000).astype(int) - rgb  # another sample, nearly the same fit
    assert np.abs(close).mean() < 4


def test_flat_or_too_few_directions_give_black_not_an_error():
    assert not pca_rgb(np.ones((16, 2, 3, 4), np.float32)).any()
    two = np.zeros((2, 3, 4, 5), np.float32)
    two[0] = np.arange(60).reshape(3, 4, 5)
    rgb = pca_rgb(two)
    assert rgb[..., 0].max() == 255 and not rgb[..., 1:].any()
