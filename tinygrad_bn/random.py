"""Random numbers: the package's default generator, ``manual_seed``, and noise that can be replayed.

Every random op in the package (dropout masks, initializers, shuffling) takes an optional
``generator=np.random.Generator``; without one it uses the default generator, which
``tg.manual_seed(seed)`` resets. Same seed, same draws, bit for bit.

Replaying noise
---------------
A stochastic op draws its noise through :func:`draw`. Inside ``with record_noise() as noise:`` every
draw is also kept, in order; inside ``with noise.replay():`` the same draws are handed back instead
of new ones. ``tg.gradcheck`` does exactly this, so a dropout layer sees the same mask in every one
of the many evaluations that finite differences need, whichever generator the op was given.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import numpy as np

# Created on first use, not at import: seeding from OS entropy costs a few milliseconds of import time.
_default_generator: np.random.Generator | None = None
_tape: NoiseTape | None = None


def manual_seed(seed: int) -> np.random.Generator:
    """Reseed the default generator used by every random op that is not given its own; returns it."""
    global _default_generator
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"manual_seed: expected a non-negative integer seed, got {seed!r}")
    _default_generator = np.random.default_rng(int(seed))
    return _default_generator


def default_generator() -> np.random.Generator:
    """The generator random ops use when none is passed (seeded from OS entropy unless ``manual_seed`` ran)."""
    global _default_generator
    if _default_generator is None:
        _default_generator = np.random.default_rng()
    return _default_generator


def get_generator(generator: np.random.Generator | None, op: str) -> np.random.Generator:
    """``generator`` if given (checked to be a numpy Generator), else the default generator."""
    if generator is None:
        return _default_generator if _default_generator is not None else default_generator()
    if not isinstance(generator, np.random.Generator):
        raise TypeError(f"{op}: generator must be a numpy.random.Generator, got {type(generator).__name__}")
    return generator


def draw(generator: np.random.Generator | None, what: str,
         sampler: Callable[[np.random.Generator], np.ndarray], shape: tuple[int, ...] | None = None) -> np.ndarray:
    """Draw noise with ``sampler(generator)``; recorded or replayed when a :class:`NoiseTape` is active.

    ``what`` and ``shape`` name the draw (e.g. ``"dropout mask (8, 16)"``) so a replay can check it is
    handed the draw it expects (the name is formatted only then: formatting a shape costs ~0.4 us).
    """
    if _tape is None:
        return sampler(get_generator(generator, what))
    gen = get_generator(generator, what)
    name = what if shape is None else f"{what} {shape}"
    return _tape.next(name, lambda: sampler(gen))


class NoiseTape:
    """The draws made while recording, in order; ``replay()`` hands them back in the same order."""

    def __init__(self) -> None:
        self.draws: list[tuple[str, np.ndarray]] = []
        self._replaying = False
        self._pos = 0

    def next(self, what: str, make: Callable[[], np.ndarray]) -> np.ndarray:
        if not self._replaying:
            value = make()
            self.draws.append((what, value))
            return value
        if self._pos >= len(self.draws):
            raise RuntimeError(f"replay_noise: the function drew more noise ({what}) than when it was recorded "
                               f"({len(self.draws)} draw(s)); its random calls must not depend on the input values")
        recorded_what, value = self.draws[self._pos]
        if recorded_what != what:
            raise RuntimeError(f"replay_noise: draw {self._pos} was recorded as {recorded_what!r} but is now {what!r}")
        self._pos += 1
        return value

    @contextlib.contextmanager
    def replay(self) -> Iterator[NoiseTape]:
        """Within this block random ops get the recorded draws again, from the first one."""
        global _tape
        prev, self._replaying, self._pos = _tape, True, 0
        _tape = self
        try:
            yield self
        finally:
            _tape, self._replaying = prev, False


@contextlib.contextmanager
def record_noise() -> Iterator[NoiseTape]:
    """Keep every draw made inside this block, for :meth:`NoiseTape.replay` later."""
    global _tape
    prev, tape = _tape, NoiseTape()
    _tape = tape
    try:
        yield tape
    finally:
        _tape = prev
