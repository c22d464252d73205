"""The learning-rate and batch-size search: its candidates, their names, the choice."""

from __future__ import annotations

import pytest

from spml.search import best_candidate, candidate_suffix, candidates


def test_no_search_trains_once_at_the_training_settings() -> None:
    assert candidates(None) == [{}]
    assert candidates({"lr": [], "batch_size": []}) == [{}]


def test_the_grid_is_every_learning_rate_with_every_batch_size_in_the_given_order() -> None:
    grid = candidates({"lr": [1e-2, 1e-3], "batch_size": [8, 16]})
    assert grid == [
        {"lr": 1e-2, "batch_size": 8},
        {"lr": 1e-2, "batch_size": 16},
        {"lr": 1e-3, "batch_size": 8},
        {"lr": 1e-3, "batch_size": 16},
    ]
    assert candidates({"batch_size": [8, 16]}) == [{"batch_size": 8}, {"batch_size": 16}]


def test_a_candidate_is_named_by_what_it_changes() -> None:
    assert candidate_suffix({"lr": 1e-3, "batch_size": 16}) == " lr=0.001 batch=16"
    assert candidate_suffix({"lr": 0.01}) == " lr=0.01"
    assert candidate_suffix({}) == ""


def test_the_best_validation_map_wins_and_the_grids_order_breaks_ties() -> None:
    assert best_candidate([50.0, 61.5, 61.0]) == 1
    assert best_candidate([61.5, 50.0, 61.5]) == 0
    with pytest.raises(ValueError, match="No candidate"):
        best_candidate([])


@pytest.mark.parametrize(
    "search, message",
    [
        ({"momentum": [0.9]}, r"Unknown search parameter\(s\) \['momentum'\]; valid: \['lr', "),
        ({"lr": 0.01}, "Parameter search.lr must be a list, got 0.01"),
        ({"lr": [0.01, -1.0]}, "Parameter search.lr must list positive numbers, got -1.0"),
        ({"lr": [True]}, "Parameter search.lr must list positive numbers, got True"),
        ({"batch_size": [8, 0.5]}, "search.batch_size must list positive integers, got 0.5"),
        ({"batch_size": [8, 8]}, r"search.batch_size lists a value twice: \[8, 8\]"),
    ],
)
def test_bad_search_parameters_are_named(search: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        candidates(search)
