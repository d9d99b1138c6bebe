"""The experiments, each a module with one ``run`` function.

Registry: ``EXPERIMENTS`` maps each name (in the order of the book's
chapters and of the report) to its module's import path; modules are imported lazily by
:func:`get`, so a broken or slow experiment never affects the others::

    from descentlab import experiments
    result = experiments.run("paths", size="quick", seed=0, out="out/paths")

Module contract (every ``descentlab/experiments/<name>.py``):

``TITLE: str``
    Heading of the experiment's report section.
``FORMULA: str``
    The key formula(s) in plain text (Unicode allowed, newlines kept). The report
    HTML-escapes it, so write ``x^2 < y``, not markup.
``EXPLANATION: str``
    One paragraph of plain text: what the figures show and what to take from them.
``run(size="quick", seed=0, out=None) -> dict``
    ``size`` is "quick" (a few seconds to a minute on 2 cores, what the tests
    and ``report --quick`` use) or "full" (book-scale); anything else raises
    InvalidParameterError (``api.check_size``). ``out`` is the experiment's
    own folder (default ``./descentlab-out/<name>``, created by
    ``_common.prepare_out``). All randomness comes from
    ``np.random.default_rng(seed)``. It writes its figures (PNG, optional SVG)
    into ``out`` and the returned dict as JSON to ``<out>/<name>.json``
    (``_common.make_result`` does both the dict and the JSON), and returns a
    dict with at least:

    - ``"name"``: the experiment name;
    - ``"out"``: the output folder, absolute;
    - ``"figures"``: PNG paths *relative to* ``out`` (POSIX strings), in the order
      the report shows them;
    - ``"table"``: list of dict rows (same keys in each row) with the key numbers
      shown in the report;
    - ``"seconds"``: wall time of the run;

    Optional keys the report renders (all plain text; the page escapes it):

    - ``"captions"``: {figure path as in "figures": one or two sentences with
      its number}; caption and alt text. Every figure should have one.
    - ``"texts"``: {figure: paragraph} shown just before that figure, so that
      the explanation is split across its figures (``"explanation"`` in the
      result, if given, replaces EXPLANATION as the section's opening text).
    - ``"table_after"``: the figure after which ``"table"`` is placed (default:
      the end of the section); ``"table_caption"``: a line above it.
    - ``"tables"``: further tables, a list of {"after": figure, "caption": str,
      "rows": [dict rows]}, each placed after its figure.
    - ``"budget"``: {label: value} of this run's size (e.g. {"training digits":
      4000, "epochs": 10, "seeds": 3}), shown in the page's banner and the
      section head.
    - ``"takeaways"``: [sentence] for the "what to take away" list at the top of
      the page; format its numbers from the results.
    - ``"book_figures"``: [{"book": "Fig. 6-9 (text, p. 178)", "figure": path,
      "note": what differs}] for the table mapping the book's figures to the
      page's figure numbers.

    Any further numbers its tests check may follow. Values must be JSON-able
    after ``api.to_jsonable`` (numbers, strings, bools, None, arrays, lists,
    dicts). Number formatting shared by prose and tables: ``api.fmt``,
    ``api.pct``, ``api.binomial_se`` (the noise floor of an accuracy). The
    skeleton of ``run`` is ``_common.experiment`` (decorator) and ``_common.Run``;
    colours come from :mod:`descentlab.palette`.
    matplotlib is imported only inside plotting code, through ``_common.pyplot()``
    (``Figure`` objects built directly: never pyplot, never a backend switch).
"""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType

from ..errors import InvalidParameterError

__all__ = ["EXPERIMENTS", "get", "names", "run"]

EXPERIMENTS: dict[str, str] = {
    name: f"descentlab.experiments.{name}"
    for name in (
        "paths",
        "adagrad_step",
        "optimizers_mnist",
        "init_activations",
        "init_mnist",
        "batchnorm",
        "regularization",
        "hyperparameter_search",
        "schedules",
        "vanishing_gradients",
        "cnn",
        "architectures",
        "weight_sensitivity",
        "lr_range_test",
        "loss_landscape",
        "edge_of_stability",
        "optimizer_choice",
    )
}


def names() -> list[str]:
    """The experiment names, in report order."""
    return list(EXPERIMENTS)


def get(name: str) -> ModuleType:
    """Import and return the module of experiment ``name``.

    Raises InvalidParameterError listing the valid names for an unknown name, and
    ImportError naming the module when a registered experiment cannot be imported.
    """
    if name not in EXPERIMENTS:
        choices = ", ".join(EXPERIMENTS)
        raise InvalidParameterError(
            f"unknown experiment {name!r}. Valid names: {choices}."
        )
    path = EXPERIMENTS[name]
    try:
        module = importlib.import_module(path)
    except ImportError as exc:
        raise ImportError(
            f"experiment {name!r}: cannot import its module {path!r} ({exc})."
        ) from exc
    if not callable(getattr(module, "run", None)):
        raise InvalidParameterError(
            f"experiment {name!r}: module {path!r} does not define "
            "run(size, seed, out)."
        )
    return module


def run(
    name: str, size: str = "quick", seed: int = 0, out: str | Path | None = None
) -> dict:
    """Run experiment ``name`` and return its result dict (see the module contract)."""
    return get(name).run(size=size, seed=seed, out=out)
