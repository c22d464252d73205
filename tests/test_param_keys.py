"""A misspelt runtime parameter stops the run, naming the closest valid keys."""

from __future__ import annotations

import pytest

from spml import models
from spml.param_keys import check_runtime_keys, flatten, unknown_keys
from spml.pipelines.design import FREE_FORM, check_losses

CONFIGURED = {
    "tau": None,
    "taus": [0.55, 0.65],
    "teacher": {"loss": "em", "loss_options": {"alpha": 0.2}},
    "training": {"epochs": 10, "lr": 1e-3, "batch_size": 64},
    "model": {"name": "small_cnn", "options": {"small_cnn": {"width": 16}}},
}


def test_keys_the_configuration_has_pass_at_any_depth() -> None:
    runtime = {"tau": 0.7, "training": {"epochs": 2}, "teacher": {"loss": "an"}}
    assert unknown_keys(runtime, CONFIGURED, FREE_FORM) == []
    check_runtime_keys(runtime, CONFIGURED, FREE_FORM)


def test_unknown_keys_are_found_where_they_first_leave_the_configuration() -> None:
    runtime = {"tua": 0.65, "teacher": {"los": "an"}, "trainig": {"epochs": 1}}
    assert unknown_keys(runtime, CONFIGURED, FREE_FORM) == ["tua", "teacher.los", "trainig"]


def test_free_form_options_are_left_to_the_loss_and_model_checks() -> None:
    runtime = {"teacher": {"loss_options": {"gamma": 1}}, "model": {"options": {"resnet18": {}}}}
    assert unknown_keys(runtime, CONFIGURED, FREE_FORM) == []


@pytest.mark.parametrize(
    "runtime, named",
    [
        ({"tua": 0.65}, r"tua: did you mean tau\?"),
        ({"teacher": {"los": "an"}}, r"teacher\.los: did you mean teacher\.loss\?"),
        ({"training": {"epoch": 3}}, r"training\.epoch: did you mean training\.epochs\?"),
        ({"trainig": {"epochs": 3}}, r"trainig: did you mean training\?"),
        ({"training": {"zzz": 3}}, r"training\.zzz: valid keys here: \['training\.batch_size'"),
    ],
)
def test_the_message_names_the_key_and_the_closest_valid_ones(runtime: dict, named: str) -> None:
    with pytest.raises(ValueError, match=named):
        check_runtime_keys(runtime, CONFIGURED, FREE_FORM)


def test_flatten_spells_nested_keys_as_the_command_line_does() -> None:
    assert flatten({"a": {"b": 1, "c": {"d": None}}, "e": [1]}) == {
        "a.b": 1,
        "a.c.d": None,
        "e": [1],
    }


def test_options_of_any_model_are_checked_whether_it_is_chosen_or_not() -> None:
    models.check_options({"small_cnn": {"width": 8}, "resnet50": {"weights_path": None}})
    with pytest.raises(ValueError, match=r"model\.options\.resnet18.*did you mean weights_path"):
        models.check_options({"resnet18": {"weigths_path": "/models/r18.pth"}})
    with pytest.raises(ValueError, match=r"model\.options\.resnt50.*did you mean resnet50"):
        models.check_options({"resnt50": {}})


def test_options_kept_for_a_baseline_not_chosen_now_must_fit_that_loss() -> None:
    params = {
        "teacher": {"loss": "em", "loss_options": {"alpha": 0.2}},
        "student": {"loss": "bce_ls", "loss_options": {"eps": 0.1}},
        "baselines": {"losses": ["an"], "options": {"role": {"expected_positive": 3}}},
    }
    with pytest.raises(ValueError, match=r"baselines\.options\.role.*expected_positives"):
        check_losses(params)


def test_a_teacher_loss_changed_at_run_time_says_how_to_drop_the_old_options() -> None:
    params = {
        "teacher": {"loss": "an", "loss_options": {"alpha": 0.2}},
        "student": {"loss": "bce_ls", "loss_options": {"eps": 0.1}},
        "baselines": {"losses": [], "options": {}},
    }
    with pytest.raises(ValueError, match=r"teacher\.loss_options=null"):
        check_losses(params)
