"""Colours by meaning, the same in every figure, page and playground.

One colour per optimizer everywhere (SGD is always black, Adam always blue...);
every other family (weight-init schemes, lr schedules, activations,
regularizers, normalization) has its own palette, drawn from hues that are not
the optimizers' where that is possible, so that black never means "SGD" in one
section and "He init" in the next. Pure data: importing this module needs no
matplotlib, and ``json.dumps(PALETTES)`` gives a browser the same colours.

Usage::

    from descentlab import palette

    ax.plot(x, y, color=palette.optimizer_color("adam"),
            label=palette.optimizer_label("adam"))          # "#0072B2", "Adam"
    ax.plot(x, y, color=palette.color("init", "he"))         # init-scheme palette
    palette.color("schedule", "cosine")                      # schedule palette

The optimizer colours are the Okabe-Ito palette plus four of Paul Tol's colours,
chosen to stay distinguishable with the common colour-vision deficiencies.
"""

from __future__ import annotations

from .errors import InvalidParameterError

__all__ = [
    "ACTIVATION_COLORS",
    "FAMILIES",
    "INIT_COLORS",
    "NORM_COLORS",
    "OPTIMIZER_COLORS",
    "OPTIMIZER_LABELS",
    "PALETTES",
    "REGULARIZATION_COLORS",
    "SCHEDULE_COLORS",
    "SERIES_COLORS",
    "color",
    "optimizer_color",
    "optimizer_label",
]

#: One colour per optimizer (keys are descentlab's optimizer names, lower case).
OPTIMIZER_COLORS: dict[str, str] = {
    "sgd": "#000000",  # black
    "momentum": "#E69F00",  # orange
    "nesterov": "#D55E00",  # vermillion
    "adagrad": "#009E73",  # bluish green
    "rmsprop": "#56B4E9",  # sky blue
    "adam": "#0072B2",  # blue
    "adamw": "#CC79A7",  # reddish purple
    "nadam": "#882255",  # wine
    "lion": "#999933",  # olive
    "adadelta": "#44AA99",  # teal
    "yogi": "#AA4499",  # purple
}

#: Display names of the optimizers.
OPTIMIZER_LABELS: dict[str, str] = {
    "sgd": "SGD",
    "momentum": "Momentum",
    "nesterov": "Nesterov",
    "adagrad": "AdaGrad",
    "rmsprop": "RMSProp",
    "adam": "Adam",
    "adamw": "AdamW",
    "nadam": "NAdam",
    "lion": "Lion",
    "adadelta": "AdaDelta",
    "yogi": "Yogi",
}

#: Weight-init schemes: browns for the fixed small/large stds, which do not scale
#: with the layer width, teals for the width-scaled schemes (Xavier, He).
INIT_COLORS: dict[str, str] = {
    "std=1": "#8C510A",
    "std=0.01": "#D8A03D",
    "xavier": "#35978F",
    "he": "#01665E",
}

#: Learning-rate schedules (ColorBrewer Dark2 plus grey for a constant lr).
SCHEDULE_COLORS: dict[str, str] = {
    "constant": "#666666",
    "step": "#1B9E77",
    "cosine": "#D95F02",
    "polynomial": "#7570B3",
    "exponential": "#E7298A",
    "warmup_cosine": "#66A61E",
    "one_cycle": "#A6761D",
}

#: Activation functions.
ACTIVATION_COLORS: dict[str, str] = {
    "sigmoid": "#762A83",
    "tanh": "#9970AB",
    "relu": "#1B7837",
}

#: Regularization settings (none / weight decay / dropout / both).
REGULARIZATION_COLORS: dict[str, str] = {
    "none": "#4D4D4D",
    "weight_decay": "#2166AC",
    "dropout": "#B2182B",
    "both": "#7B3294",
}

#: With and without normalization (batch norm).
NORM_COLORS: dict[str, str] = {
    "batchnorm": "#1F78B4",
    "plain": "#E31A1C",
}

#: Colours for series of any other kind, in order (rounds of a search, models...).
SERIES_COLORS: tuple[str, ...] = (
    "#4477AA",
    "#EE6677",
    "#228833",
    "#CCBB44",
    "#66CCEE",
    "#AA3377",
    "#BBBBBB",
    "#332288",
)

#: Every family's palette by name, for :func:`color` (and for a browser, as JSON).
PALETTES: dict[str, dict[str, str]] = {
    "optimizer": OPTIMIZER_COLORS,
    "init": INIT_COLORS,
    "schedule": SCHEDULE_COLORS,
    "activation": ACTIVATION_COLORS,
    "regularization": REGULARIZATION_COLORS,
    "norm": NORM_COLORS,
}
FAMILIES: tuple[str, ...] = tuple(PALETTES)


def optimizer_color(name: str) -> str:
    """Colour of optimizer ``name`` (case-insensitive), e.g. "adam" -> "#0072B2".

    Raises InvalidParameterError listing the known optimizers for another name.
    """
    return color("optimizer", name)


def optimizer_label(name: str) -> str:
    """Display name of an optimizer ("adagrad" -> "AdaGrad"); other names unchanged."""
    return OPTIMIZER_LABELS.get(name.lower(), name)


def color(family: str, key: str) -> str:
    """Colour of ``key`` in palette ``family`` (one of :data:`FAMILIES`).

    Keys are case-insensitive ("He" == "he"). An unknown family or key raises
    InvalidParameterError naming the valid choices, so that a typo never silently
    gives a series another family's colour.
    """
    if family not in PALETTES:
        raise InvalidParameterError(
            f"palette.color: 'family' must be one of {', '.join(FAMILIES)}. "
            f"Got {family!r}."
        )
    table = PALETTES[family]
    k = str(key).lower()
    if k not in table:
        raise InvalidParameterError(
            f"palette.color: {family!r} has no colour for {key!r}. "
            f"Known: {', '.join(table)}."
        )
    return table[k]
