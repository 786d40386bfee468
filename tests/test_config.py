"""Config: presets, dotted overrides, and clear errors for bad keys, types and ranges."""

import json
import math

import pytest

from fedaid_lite.config import Experiment, known_keys, parse_assignments


def test_override_accepts_kebab_and_snake_case():
    # If this fails, papermill/CLI keys written either way would be rejected or ignored.
    cfg = Experiment.tiny().override({"train.local-steps": 7, "fed.prox_mu": "0.5", "fed.two-stage": "false"})
    assert cfg.train.local_steps == 7 and cfg.fed.prox_mu == 0.5 and cfg.fed.two_stage is False


def test_override_returns_new_frozen_copy():
    # Configs are frozen data: an override must never mutate the preset it started from.
    base = Experiment.tiny()
    base.override({"fed.rounds": 9})
    assert base.fed.rounds == Experiment.tiny().fed.rounds
    with pytest.raises(Exception):
        base.fed.rounds = 3  # type: ignore[misc]


@pytest.mark.parametrize("key,value,fragment", [
    ("fed.rounds", -1, "fed.rounds"),
    ("fed.nonsense", 1, "fed.nonsense"),
    ("train.lr", "abc", "train.lr"),
    ("fed.algorithm", "fedsgd", "fed.algorithm"),
    ("data.image_shift", 2.0, "allowed 0.0 to 1.0"),
    ("nosection.x", 1, "nosection.x"),
    ("train.local_steps", 2.5, "expected int"),
    ("fed.dro", "maybe", "expected bool"),
])
def test_bad_override_names_key_and_value(key, value, fragment):
    # A user must be told which key is wrong and why, not get a traceback from deep inside training.
    with pytest.raises(ValueError) as err:
        Experiment.tiny().override({key: value})
    assert fragment in str(err.value)


def test_round_trip_through_json():
    # Every run records its config; reading it back must give the identical experiment (inf included).
    cfg = Experiment.default().override({"data.label_skew": "iid", "fed.algorithm": "fedaid", "seed": 3})
    again = Experiment.from_dict(json.loads(cfg.to_json()))
    assert again == cfg and math.isinf(again.data.label_skew)


def test_stage1_must_leave_room_for_stage2():
    # FedAID's stage 2 gets local_steps - stage1_steps; zero or negative steps would silently skip it.
    with pytest.raises(ValueError, match="stage1_steps"):
        Experiment.tiny().override({"fed.algorithm": "fedaid", "fed.stage1_steps": 4, "train.local_steps": 4})


def test_flat_keys_cover_every_field_and_override_back():
    # flat() is what sweeps record; every key it lists must be accepted by override.
    cfg = Experiment.tiny()
    assert set(cfg.flat()) == set(known_keys())
    assert cfg.override(cfg.flat()) == cfg


def test_parse_assignments_requires_equals():
    assert parse_assignments(["fed.rounds=3"]) == {"fed.rounds": "3"}
    with pytest.raises(ValueError, match="key=value"):
        parse_assignments(["fed.rounds"])
