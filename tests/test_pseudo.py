"""Thresholding at tau, its validation, and stable names for tau."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from spml.pseudo import pseudo_labels_at, tau_slug, validate_tau


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("tau", [0.55, 0.65, 0.75, 0.85, 0.95])
def test_probability_equal_to_tau_is_zero_just_above_is_one(tau, dtype):
    exact = dtype(tau)
    above = np.nextafter(exact, dtype(1))
    labels = pseudo_labels_at(np.array([[exact, above, 0.0, 1.0]], dtype=dtype), tau)
    assert labels.dtype == np.uint8
    np.testing.assert_array_equal(labels, [[0, 1, 0, 1]])


def test_pseudo_labels_accepts_tensors_and_string_tau():
    probabilities = torch.tensor([[0.2, 0.7], [0.65, 0.9]])
    np.testing.assert_array_equal(pseudo_labels_at(probabilities, "0.65"), [[0, 1], [0, 1]])


def test_pseudo_labels_of_tensors_that_carry_gradients():
    probabilities = torch.tensor([[0.2, 0.7]], requires_grad=True)
    np.testing.assert_array_equal(pseudo_labels_at(probabilities * 1, 0.5), [[0, 1]])


@pytest.mark.parametrize("dtype", [np.float16, np.int64, np.uint8, np.bool_])
def test_pseudo_labels_of_integer_and_boolean_probabilities(dtype):
    np.testing.assert_array_equal(pseudo_labels_at(np.eye(2, dtype=dtype), 0.5), np.eye(2))


@pytest.mark.parametrize(
    "bad, message",
    [
        ([[1.2, 0.1]], r"^probabilities must lie in \[0, 1\], found values in \[0.1, 1.2\]$"),
        ([[-0.1, 0.5]], r"^probabilities must lie in \[0, 1\], found values in \[-0.1, 0.5\]$"),
        ([[math.nan, 0.5]], "^probabilities contain NaN or infinite values$"),
        ([["0.5"]], "^probabilities must be numeric, got dtype <U3$"),
    ],
)
def test_pseudo_labels_rejects_bad_probabilities(bad, message):
    with pytest.raises(ValueError, match=message):
        pseudo_labels_at(np.array(bad), 0.5)


@pytest.mark.parametrize(
    ("value", "expected"), [(0, 0.0), (0.65, 0.65), ("0.75", 0.75), (np.float32(0.5), 0.5)]
)
def test_validate_tau_accepts(value, expected):
    assert validate_tau(value) == pytest.approx(expected)


@pytest.mark.parametrize(
    "bad", [True, False, math.nan, "nan", "high", None, [0.5], 1.0, 1, -0.1, 2]
)
def test_validate_tau_rejects_naming_parameter_and_value(bad):
    with pytest.raises(ValueError) as error:
        validate_tau(bad, name="pseudo.tau")
    got = f"the boolean {bad!r}" if isinstance(bad, bool) else repr(bad)
    assert str(error.value).startswith(f"pseudo.tau must be a number in [0, 1), got {got}")


def test_validate_tau_names_tau_and_the_type_it_got():
    with pytest.raises(ValueError) as error:
        validate_tau([0.5])
    assert str(error.value) == "tau must be a number in [0, 1), got [0.5] (list)"


@pytest.mark.parametrize(
    ("tau", "slug"),
    [
        (0.65, "tau_0_65"),
        (0.7, "tau_0_70"),
        (0.125, "tau_0_125"),
        (0.55000000000000004, "tau_0_55"),
        (0.1 + 0.45, "tau_0_55"),
        (0.5 + 0.05, "tau_0_55"),
        (0, "tau_0_00"),
        (0.95, "tau_0_95"),
        (0.12345678, "tau_0_1235"),
        (0.0001, "tau_0_0001"),
        (0.00004, "tau_0_00"),
        (0.99995, "tau_1_00"),
    ],
)
def test_tau_slug(tau, slug):
    assert tau_slug(tau) == slug
