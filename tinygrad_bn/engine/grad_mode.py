"""Grad mode: whether ops record themselves on the tape (``no_grad``, ``enable_grad``, ``set_grad_enabled``)."""

from __future__ import annotations

import contextlib

_grad_enabled = True


def is_grad_enabled() -> bool:
    """Whether ops record themselves on the tape right now."""
    return _grad_enabled


class set_grad_enabled(contextlib.ContextDecorator):
    """Context manager and decorator that sets recording on or off, and restores what it found on exit.

    The previous mode is kept per entry (a stack), so one instance used as a decorator on a recursive
    function restores the right mode at every level.
    """

    def __init__(self, mode: bool = True):
        self.mode = bool(mode)
        self._previous: list[bool] = []

    def __enter__(self) -> set_grad_enabled:
        global _grad_enabled
        self._previous.append(_grad_enabled)
        _grad_enabled = self.mode
        return self

    def __exit__(self, *exc: object) -> None:
        global _grad_enabled
        _grad_enabled = self._previous.pop()


class no_grad(set_grad_enabled):
    """Ops run inside record nothing and their results do not require grad (``with`` or ``@no_grad()``)."""

    def __init__(self) -> None:
        super().__init__(False)


class enable_grad(set_grad_enabled):
    """Turns recording back on, e.g. inside ``no_grad`` (``with`` or ``@enable_grad()``)."""

    def __init__(self) -> None:
        super().__init__(True)
