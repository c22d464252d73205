"""Every pseudo-label policy on a fixed probability matrix, against its formula written out."""

from __future__ import annotations

import math

import numpy as np
import pytest

from spml.policies import (
    POLICIES,
    Targets,
    aligned,
    available_policies,
    band,
    class_frequencies,
    class_prior,
    keep_observed,
    make_targets,
    soft,
    threshold,
    top_k,
    top_of_each_column,
)

# Six images, four classes; ties and values equal to thresholds on purpose.
P = np.array(
    [
        [0.90, 0.60, 0.20, 0.55],
        [0.40, 0.70, 0.65, 0.10],
        [0.80, 0.30, 0.50, 0.60],
        [0.55, 0.55, 0.90, 0.05],
        [0.20, 0.95, 0.40, 0.70],
        [0.65, 0.10, 0.30, 0.45],
    ],
    dtype=np.float32,
)
# One observed positive per image: class 0 three times, 1 once, 2 twice, 3 never.
OBSERVED = np.array(
    [[1, 0, 0, 0], [0, 0, 1, 0], [1, 0, 0, 0], [0, 0, 1, 0], [0, 1, 0, 0], [1, 0, 0, 0]],
    dtype=np.float32,
)
N, C = P.shape


def test_threshold_is_p_above_tau_strictly() -> None:
    tau = 0.6
    expected = [[1 if P[i, j] > np.float32(tau) else 0 for j in range(C)] for i in range(N)]
    targets = threshold(P, OBSERVED, tau)
    np.testing.assert_array_equal(targets.values, expected)
    assert targets.values[0, 1] == 0 and targets.values[2, 3] == 0  # 0.6 itself is negative
    assert not targets.unknown.any()


def test_class_prior_labels_each_class_as_often_as_its_estimated_frequency() -> None:
    k = 2.0
    # f_c = k * (observed positives of c) / N = 2 * [3, 1, 2, 0] / 6; count_c = round(N * f_c)
    counts = [round(N * min(1.0, k * n / N)) for n in (3, 1, 2, 0)]
    assert counts == [6, 2, 4, 0]
    expected = np.zeros((N, C))
    for c, count in enumerate(counts):
        highest_first = sorted(range(N), key=lambda i: (-P[i, c], i))  # ties: earlier row first
        expected[highest_first[:count], c] = 1
    np.testing.assert_array_equal(class_prior(P, OBSERVED, k).values, expected)
    # class 1's two highest scores are images 4 (0.95) and 1 (0.70)
    assert class_prior(P, OBSERVED, k).values[:, 1].tolist() == [0, 1, 0, 0, 1, 0]


def test_class_prior_breaks_ties_by_row_order() -> None:
    tied = np.full((3, 1), 0.5, dtype=np.float32)
    labels = class_prior(tied, np.array([[1.0], [0.0], [0.0]]), k=2.0)  # f = 2/3: two rows
    assert labels.values[:, 0].tolist() == [1, 1, 0]


def test_top_k_keeps_each_images_k_most_probable_classes() -> None:
    k = 2
    expected = np.zeros((N, C))
    for i in range(N):
        expected[i, sorted(range(C), key=lambda j: (-P[i, j], j))[:k]] = 1
    np.testing.assert_array_equal(top_k(P, OBSERVED, k).values, expected)
    assert top_k(P, OBSERVED, k).values[3].tolist() == [1, 0, 1, 0]  # 0.90, then the first 0.55
    assert (top_k(P, OBSERVED, 3).values.sum(1) == 3).all()


def test_band_is_positive_above_tau_negative_below_low_unknown_between() -> None:
    tau, low = 0.6, 0.3
    targets = band(P, OBSERVED, tau, low)
    for i in range(N):
        for j in range(C):
            p = P[i, j]
            assert targets.values[i, j] == (1 if p > np.float32(tau) else 0)
            assert targets.unknown[i, j] == (np.float32(low) <= p <= np.float32(tau))
    assert targets.unknown[2, 1] and targets.unknown[0, 1]  # p == low and p == tau: unknown
    assert not targets.unknown[5, 1]  # 0.10 < low: a negative


def test_band_refuses_a_low_threshold_above_tau() -> None:
    with pytest.raises(
        ValueError, match=r"^band: pseudo_labeling\.band_low=0\.8 must not exceed tau=0\.6$"
    ):
        band(P, OBSERVED, 0.6, 0.8)
    equal = band(P, OBSERVED, 0.6, 0.6)  # low == tau: no band, only p == tau stays unknown
    np.testing.assert_array_equal(equal.unknown, P == np.float32(0.6))


@pytest.mark.parametrize("temperature", [1.0, 0.5, 2.0])
def test_soft_targets_are_the_sharpened_probabilities(temperature: float) -> None:
    def expected(p: float) -> float:
        return 1 / (1 + math.exp(-math.log(p / (1 - p)) / temperature))

    targets = soft(P, OBSERVED, temperature)
    for i in range(N):
        for j in range(C):
            assert targets.values[i, j] == pytest.approx(expected(float(P[i, j])), abs=1e-6)
    assert not targets.unknown.any()


def test_soft_targets_of_certain_probabilities_stay_finite() -> None:
    targets = soft(np.array([[0.0, 1.0]], dtype=np.float32), np.zeros((1, 2)), 0.5)
    assert targets.values.tolist() == [[0.0, 1.0]]


def test_keep_observed_makes_the_observed_positive_a_known_positive() -> None:
    reference = band(P, OBSERVED, 0.7, 0.3)  # observed (1, 2) and (5, 0): 0.65, unknown
    assert reference.unknown[1, 2] and reference.unknown[5, 0]
    targets = keep_observed(reference, OBSERVED)
    for i in range(N):
        for j in range(C):
            if OBSERVED[i, j]:
                assert targets.values[i, j] == 1 and not targets.unknown[i, j]
    untouched = OBSERVED == 0
    np.testing.assert_array_equal(targets.values[untouched], reference.values[untouched])
    np.testing.assert_array_equal(targets.unknown[untouched], reference.unknown[untouched])


def test_make_targets_keeps_nothing_and_bands_from_one_half_unless_asked() -> None:
    plain = make_targets("band", 0.7, P, OBSERVED)
    reference = band(P, OBSERVED, 0.7, 0.5)
    np.testing.assert_array_equal(plain.unknown, reference.unknown)
    np.testing.assert_array_equal(plain.values, reference.values)
    assert plain.unknown[1, 2] and plain.values[5, 0] == 0  # observed positives not kept


@pytest.mark.parametrize("policy", ["threshold", "class_prior", "top_k", "band", "soft"])
def test_make_targets_applies_the_policy_then_keeps_the_observed_positive(policy: str) -> None:
    value = {"threshold": 0.6, "class_prior": 2.0, "top_k": 2, "band": 0.6, "soft": 0.5}[policy]
    plain = make_targets(policy, value, P, OBSERVED, keep=False, band_low=0.3)
    kept = make_targets(policy, value, P, OBSERVED, keep=True, band_low=0.3)
    np.testing.assert_array_equal(
        plain.values,
        POLICIES[policy]
        .apply(P, OBSERVED, value, **({"low": 0.3} if policy == "band" else {}))
        .values,
    )
    if policy == "band":  # band_low reaches the band
        np.testing.assert_array_equal(plain.unknown, band(P, OBSERVED, 0.6, 0.3).unknown)
    np.testing.assert_array_equal(kept.values, keep_observed(plain, OBSERVED).values)
    np.testing.assert_array_equal(kept.unknown, keep_observed(plain, OBSERVED).unknown)
    for targets in (plain, kept):  # what a student's loss and a label table take
        assert targets.values.dtype == np.float32 and targets.unknown.dtype == bool
    assert ((kept.values >= 0) & (kept.values <= 1)).all()


def test_aligned_scales_each_class_to_its_estimated_frequency_capped_at_one() -> None:
    k = 1.5  # frequencies 1.5 x (3, 1, 2, 0) / 6 = (0.75, 0.25, 0.5, 0)
    targets = aligned(P, OBSERVED, k)
    frequency = np.array([0.75, 0.25, 0.5, 0.0])
    expected = np.minimum(1.0, P * frequency / P.astype(np.float64).mean(0))
    np.testing.assert_allclose(targets.values, expected, rtol=1e-6)
    assert targets.values[:, 0].max() == 1.0  # 0.9 x 0.75 / 0.583 > 1: capped
    np.testing.assert_allclose(targets.values[:, 1].mean(), 0.25, rtol=1e-6)  # none capped
    assert not targets.values[:, 3].any() and not targets.unknown.any()  # never observed
    ranks = np.argsort(P[:, 2], kind="stable")
    assert list(np.argsort(targets.values[:, 2], kind="stable")) == list(ranks)
    zeros = np.zeros_like(P)
    assert not aligned(zeros, OBSERVED, k).values.any()  # a class predicted nowhere stays 0


def test_the_registry_lists_the_policies() -> None:
    assert available_policies() == ["aligned", "band", "class_prior", "soft", "threshold", "top_k"]
    with pytest.raises(ValueError, match=r"pseudo_labeling.policy.*\['aligned', 'band'"):
        make_targets("median", 0.5, P, OBSERVED)


@pytest.mark.parametrize(
    "policy, value, named",
    [
        ("threshold", 1.0, "threshold tau"),
        ("band", 1.0, "band tau"),
        ("class_prior", 0, r"^class_prior k must be a number > 0, got 0$"),
        ("class_prior", float("nan"), "class_prior k"),
        ("top_k", 5, r"^top_k k must be a whole number from 1 to the 4 classes, got 5$"),
        ("top_k", 0, "top_k k"),
        ("top_k", 1.5, "top_k k"),
        ("soft", -1.0, r"^soft temperature T must be a number > 0, got -1\.0$"),
        ("soft", float("inf"), "soft temperature T"),
        ("soft", True, "temperature"),
        ("soft", np.True_, "temperature"),
        ("soft", "2", "temperature"),
    ],
)
def test_bad_swept_values_are_named(policy: str, value: object, named: str) -> None:
    with pytest.raises(ValueError, match=named):
        make_targets(policy, value, P, OBSERVED)


def test_probabilities_and_observed_labels_of_different_shapes_are_refused() -> None:
    with pytest.raises(ValueError, match=r"\(6, 4\).*\(6, 3\)"):
        make_targets("soft", 1.0, P, OBSERVED[:, :3])


def test_a_table_matrix_is_uint8_when_hard_and_nan_where_unknown() -> None:
    assert threshold(P, OBSERVED, 0.6).matrix().dtype == np.uint8
    matrix = band(P, OBSERVED, 0.6, 0.3).matrix()
    assert matrix.dtype == np.float32 and np.isnan(matrix[0, 1]) and matrix[0, 0] == 1
    back = Targets.from_matrix(matrix)
    np.testing.assert_array_equal(back.unknown, np.isnan(matrix))
    np.testing.assert_array_equal(back.values, band(P, OBSERVED, 0.6, 0.3).values)
    assert back.values.dtype == np.float32
    assert soft(P, OBSERVED, 1.0).matrix().dtype == np.float32


def test_targets_outside_zero_one_are_refused() -> None:
    with pytest.raises(ValueError, match=r"^targets must lie in \[0, 1\]$"):
        Targets(np.array([[1.5]], dtype=np.float32), np.zeros((1, 1), dtype=bool))


def test_top_k_accepts_one_to_all_classes_and_any_whole_number_before_the_data_is_known() -> None:
    check = POLICIES["top_k"].check
    assert (check(1, C), check(C, C), check(4.0, C)) == (1.0, float(C), 4.0)
    assert check(7, None) == 7.0  # the parameters are checked before the data set is read
    with pytest.raises(ValueError, match="from 1 to the number of classes"):
        check(0, None)


def test_class_frequencies_are_the_observed_share_times_k_capped_at_one() -> None:
    # observed positives per class: 3, 1, 2, 0 of 6 images
    np.testing.assert_allclose(class_frequencies(OBSERVED, 3.0), [1.0, 0.5, 1.0, 0.0])
    single = class_prior(np.array([[0.9, 0.8]]), np.array([[1.0, 0.0]]), k=1.0)
    assert single.values.tolist() == [[1, 0]]  # one image: its own positive, f = (1, 0)


def test_ties_in_long_columns_keep_row_order() -> None:
    scores = np.random.default_rng(0).choice([0.2, 0.5, 0.8], size=(50, 2))
    counts = np.array([20, 31])
    expected = np.zeros(scores.shape)
    for c, count in enumerate(counts):
        expected[sorted(range(50), key=lambda i: (-scores[i, c], i))[:count], c] = 1
    np.testing.assert_array_equal(top_of_each_column(scores, counts), expected)


def test_targets_of_different_shapes_or_not_a_matrix_are_refused() -> None:
    with pytest.raises(
        ValueError,
        match=r"^targets \(2, 2\) and unknown mask \(2, 3\) must be the same N x C shape$",
    ):
        Targets(np.zeros((2, 2), dtype=np.float32), np.zeros((2, 3), dtype=bool))
    with pytest.raises(ValueError, match="N x C"):
        Targets(np.zeros(3, dtype=np.float32), np.zeros(3, dtype=bool))
    empty = Targets(np.zeros((0, 3), dtype=np.float32), np.zeros((0, 3), dtype=bool))
    assert empty.matrix().shape == (0, 3)
