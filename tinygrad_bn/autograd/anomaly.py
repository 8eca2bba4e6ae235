"""Anomaly mode: find the op, and the line of your code, where a NaN or Inf first appeared.

``with tg.autograd.detect_anomaly(): ...`` (or ``tg.autograd.set_detect_anomaly(True)``) makes the
engine do two things for every op, until the mode is switched off again:

- **record where the op was created**: the first stack frame outside the ``tinygrad_bn`` package
  (the line of *your* code, e.g. ``y = x.sqrt()``), kept on the node as ``ctx.created_at``;
- **check for NaN/Inf** (unless ``check_nan=False``): an op whose forward result holds NaN or Inf
  although all its inputs are finite, or whose backward returns NaN or Inf for an input although
  its ``grad_output`` and all its inputs are finite, raises ``RuntimeError`` naming the op, the
  input, and the line that created the op. Values that were already NaN/Inf are passed on silently:
  the error points at the *first* op that made one, not at every op downstream.

It works as an observer of the engine (``engine.function.ON_APPLY`` and ``engine.backward.OBSERVERS``):
off, it adds nothing but a loop over an empty list to each op. On, each op walks the Python stack and
each array is scanned once more, so use it for finding a bug, not for training.
"""

from __future__ import annotations

import contextlib
import linecache
import os
import sys
from typing import Any, NamedTuple

import numpy as np

from ..engine import backward, function

_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep
_state = {"enabled": False, "check_nan": True}


class Site(NamedTuple):
    """Where an op was created: file, line number, enclosing function."""

    filename: str
    lineno: int
    function: str

    def __str__(self) -> str:
        code = linecache.getline(self.filename, self.lineno).strip()
        return f'File "{self.filename}", line {self.lineno}, in {self.function}' + (f"\n    {code}" if code else "")


def is_anomaly_enabled() -> bool:
    """Whether anomaly mode is on."""
    return _state["enabled"]


def _set(enabled: bool, check_nan: bool) -> None:
    _state.update(enabled=enabled, check_nan=check_nan)
    for hooks, observer in ((function.ON_APPLY, _after_forward), (backward.OBSERVERS, _after_backward)):
        if enabled and observer not in hooks:
            hooks.append(observer)
        elif not enabled and observer in hooks:
            hooks.remove(observer)


class set_detect_anomaly:
    """``set_detect_anomaly(mode, check_nan=True)``: switch anomaly mode on or off, as PyTorch.

    Called as a function it takes effect at once; used as ``with set_detect_anomaly(mode):`` the
    previous setting comes back at the end of the block.
    """

    def __init__(self, mode: bool, check_nan: bool = True):
        if not isinstance(mode, bool) or not isinstance(check_nan, bool):
            raise TypeError(f"set_detect_anomaly: mode and check_nan must be bools, got {mode!r} and {check_nan!r}")
        self._previous = (_state["enabled"], _state["check_nan"])
        _set(mode, check_nan)

    def __enter__(self) -> set_detect_anomaly:
        return self

    def __exit__(self, *exc: object) -> None:
        _set(*self._previous)


class detect_anomaly(contextlib.ContextDecorator):
    """Context manager and decorator: anomaly mode on inside, the previous setting restored after.

    ``check_nan=False`` records where each op was created but raises nothing.
    """

    def __init__(self, check_nan: bool = True):
        if not isinstance(check_nan, bool):
            raise TypeError(f"detect_anomaly: check_nan must be a bool, got {check_nan!r}")
        self.check_nan = check_nan
        self._previous: list[tuple[bool, bool]] = []

    def __enter__(self) -> detect_anomaly:
        self._previous.append((_state["enabled"], _state["check_nan"]))
        _set(True, self.check_nan)
        return self

    def __exit__(self, *exc: object) -> None:
        _set(*self._previous.pop())


def _user_site() -> Site | None:
    """The innermost stack frame outside this package: the user's line that called into it."""
    frame = sys._getframe(1)
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(_PACKAGE):
        frame = frame.f_back
    return None if frame is None else Site(frame.f_code.co_filename, frame.f_lineno, frame.f_code.co_name)


def _finite(a: Any) -> bool:
    """No NaN or Inf in ``a`` (an array, or a Tensor when the backward pass is itself recorded)."""
    return bool(np.isfinite(np.asarray(a)).all())


def _where(node: Any) -> str:
    site = getattr(node, "created_at", None)
    if site is None:
        return (f"The {node.name} was created outside anomaly mode: run the forward pass inside "
                "detect_anomaly() too to see where.")
    return f"The {node.name} was created at\n  {site}"


def _running_backward() -> Any:
    """The node whose backward is running further up the stack (ops run inside a backward when it is
    itself recorded, or when a custom backward calls ops), else None. Only looked up for an error."""
    frame = sys._getframe(2)
    while frame is not None:
        ctx = frame.f_locals.get("ctx") if frame.f_code.co_name == "backward" else None
        if isinstance(ctx, function.Node):
            return ctx
        frame = frame.f_back
    return None


def _after_forward(ctx: Any, out: np.ndarray) -> None:
    ctx.created_at = _user_site()
    if (_state["check_nan"] and out.dtype.kind in "fc" and not _finite(out)
            and all(_finite(p.data) for p in ctx.parents)):
        kind = "NaN" if np.isnan(out).any() else "Inf"
        inside = _running_backward()
        where = _where(ctx) if inside is None else f"It ran inside {inside.name}.backward. {_where(inside)}"
        raise RuntimeError(f"anomaly mode: {ctx.name}.forward produced {kind} in its result (shape {out.shape}) "
                           f"from finite inputs. {where}")


def _after_backward(node: Any, grad_output: np.ndarray, in_grads: tuple) -> None:
    if not _state["check_nan"]:
        return
    bad = [i for i, g in enumerate(in_grads) if g is not None and not _finite(g)]
    if bad and _finite(grad_output) and all(_finite(p.data) for p in node.parents):
        i, g = bad[0], np.asarray(in_grads[bad[0]])  # np.asarray: an array, or a Tensor's data
        kind = "NaN" if np.isnan(g).any() else "Inf"
        raise RuntimeError(f"anomaly mode: {node.name}.backward returned {kind} in the gradient of input {i} "
                           f"(shape {g.shape}) from a finite grad_output and finite inputs. {_where(node)}")
