"""How a lock reports its phases: each a :class:`Step`, given to a ``Progress``
callback.

The CLI shows each step on stderr with its elapsed time; a step running longer than a
few seconds also says what it waits for (``waits_for``).
"""

from __future__ import annotations

from collections.abc import Callable


class Step(str):
    """A phase of the lock as shown on stderr; ``waits_for`` says what a slow one waits
    for."""

    waits_for: str

    def __new__(cls, label: str, waits_for: str = "") -> Step:
        step = super().__new__(cls, label)
        step.waits_for = waits_for
        return step


Progress = Callable[[str], None]
