"""Short text forms of values for one-line summaries and figure labels."""

from __future__ import annotations

from typing import Any


def short(value: Any, digits: int = 4) -> str:
    """``value`` in at most ``digits`` significant digits if a float, else ``str``.

    ``short(0.012345) == "0.01235"``, ``short(0.012345, 2) == "0.012"``,
    ``short(3) == "3"``, ``short(None) == "None"``.
    """
    return f"{value:.{digits}g}" if isinstance(value, float) else str(value)
