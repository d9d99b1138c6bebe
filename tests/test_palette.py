"""Tests of descentlab.palette: colours by meaning, stable and distinct."""

import json
import re

import pytest

from descentlab import palette
from descentlab.errors import InvalidParameterError
from descentlab.experiments import _common

OPTIMIZERS = (
    "sgd momentum nesterov adagrad rmsprop adam adamw nadam lion adadelta yogi"
).split()


def test_every_optimizer_has_its_own_valid_colour_and_label():
    """Check that each optimizer has one hex colour, no two optimizers share one."""
    colours = [palette.optimizer_color(n) for n in OPTIMIZERS]
    assert all(re.fullmatch(r"#[0-9A-Fa-f]{6}", c) for c in colours)
    assert len(set(c.lower() for c in colours)) == len(OPTIMIZERS)
    assert palette.optimizer_label("adagrad") == "AdaGrad"
    assert palette.optimizer_color("Adam") == palette.optimizer_color("adam")


def test_other_families_never_reuse_an_optimizer_colour():
    """Check that init/schedule/... palettes are disjoint from the optimizers'."""
    opt = {c.lower() for c in palette.OPTIMIZER_COLORS.values()}
    for family, table in palette.PALETTES.items():
        if family == "optimizer":
            continue
        assert not opt & {c.lower() for c in table.values()}, family
        assert len(set(table.values())) == len(table), family
    assert not opt & {c.lower() for c in palette.SERIES_COLORS}


def test_unknown_family_or_key_is_refused_with_the_choices():
    """Check that a typo raises and names the valid choices."""
    with pytest.raises(InvalidParameterError, match="Known: sgd, momentum"):
        palette.optimizer_color("sgdd")
    with pytest.raises(InvalidParameterError, match="must be one of optimizer"):
        palette.color("inits", "he")


def test_palettes_are_json_and_shared_with_the_experiments():
    """Check that the palettes serialize and the experiments use the same colours."""
    assert json.loads(json.dumps(palette.PALETTES)) == palette.PALETTES
    assert _common.color("nesterov") == palette.optimizer_color("nesterov")
