"""Tensor hooks: functions that see (and may replace) a tensor's gradient during backward.

``t.register_hook(fn)``: ``fn(grad)`` is called with the whole gradient of ``t`` in each backward
pass, once every contribution to it has been summed, before it goes on (to the op that made ``t``,
or into ``t.grad`` for a leaf). It may return a replacement array of the same shape, or None to keep
``grad``. It returns a handle whose ``remove()`` takes the hook off again, as in PyTorch.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import numpy as np

_keys = itertools.count()


class RemovableHandle:
    """Returned by ``register_hook`` (and a Module's forward hooks); ``remove()`` unregisters the hook
    (calling it twice is fine). ``with t.register_hook(fn):`` removes it at the end of the block."""

    def __init__(self, hooks: dict[int, Callable[..., Any]], hook: Callable[..., Any], by: str = "register_hook"):
        if not callable(hook):
            raise TypeError(f"{by}: hook must be callable, got {type(hook).__name__}")
        self._hooks, self.id = hooks, next(_keys)
        hooks[self.id] = hook

    def remove(self) -> None:
        self._hooks.pop(self.id, None)

    def __enter__(self) -> RemovableHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()


def run_hooks(t: Any, grad: Any) -> Any:
    """``grad`` passed through t's hooks in the order they were registered. ``grad`` is a numpy array, or
    a Tensor in a ``create_graph=True`` pass (a hook may then return a Tensor, kept in the graph)."""
    for hook in list(t._hooks.values()) if t._hooks else ():
        result = hook(grad)
        if result is not None:
            as_tensor = not isinstance(grad, np.ndarray)
            if not (as_tensor and hasattr(result, "_ctx")):
                result = np.asarray(result.data if hasattr(result, "_ctx") else result)
                result = grad._make(result, False, None) if as_tensor else result
            if result.shape != grad.shape:
                raise ValueError(f"hook {getattr(hook, '__name__', hook)!r} returned a gradient of shape "
                                 f"{result.shape}, expected {grad.shape}")
            grad = result.to(grad.dtype) if as_tensor else result.astype(grad.dtype, copy=False)
    return grad
