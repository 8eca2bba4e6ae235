"""``Optimizer``: the base class of SGD, Adam and AdamW, with PyTorch's interface.

An optimizer holds ``param_groups`` (a list of dicts: ``"params"``, a list of Tensors, plus that
group's hyperparameters, e.g. ``"lr"``) and ``state`` (a dict from parameter to its per-parameter
state, e.g. a momentum buffer). ``step()`` updates every parameter that has a ``.grad`` **in place**
(``p.data`` keeps its array, shape and dtype: float32 stays float32), reading ``group["lr"]`` afresh
each time, so learning-rate schedulers only have to write to it.

``state_dict()`` is PyTorch's layout with copies of the arrays::

    {"state": {0: {"step": 3, "exp_avg": array, ...}, ...},          # keyed by parameter index
     "param_groups": [{"lr": 0.001, ..., "params": [0, 1, ...]}]}   # indices in order over all groups

``load_state_dict`` also accepts that mapping after a round trip through ``tg.save``/``tg.load``
(flattened with "/" and unflattened by ``tinygrad_bn.serialization.unflatten``): string indices,
0-d arrays for numbers, arrays for lists and tuples.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np

from ..engine.grad_mode import enable_grad
from ..engine.tensor import Tensor

ParamsT = Iterable[Tensor] | Iterable[dict[str, Any]]


def check_hyper(owner: str, name: str, value: Any, low: float = 0.0, high: float = math.inf,
                high_open: bool = False) -> float:
    """``value`` as a Python float in [low, high] (or [low, high)), else ValueError naming ``owner``."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{owner}: {name} must be a number, got {value!r}")
    v = float(value)
    if not (low <= v and (v < high if high_open else v <= high)):
        bracket = ")" if high_open else "]"
        raise ValueError(f"{owner}: invalid {name} {value!r}, expected a value in [{low}, {high}{bracket}")
    return v


class Optimizer:
    """Base class: subclasses set ``defaults`` via ``super().__init__(params, defaults)``, implement
    ``_check_group(group)`` (validate and normalize hyperparameters) and ``step()``, and list the
    per-parameter state entries they keep in ``state_keys``."""

    state_keys: frozenset[str] = frozenset()

    def __init__(self, params: ParamsT, defaults: dict[str, Any]):
        name = type(self).__name__
        if isinstance(params, (Tensor, np.ndarray)) or not isinstance(params, Iterable):
            raise TypeError(f"{name}: params must be an iterable of Tensors or of dicts (parameter groups), "
                            f"got {type(params).__name__}")
        self.defaults = dict(defaults)
        self.param_groups: list[dict[str, Any]] = []
        self.state: defaultdict[Tensor, dict[str, Any]] = defaultdict(dict)
        self._scratch: dict[tuple[np.dtype, int], np.ndarray] = {}
        groups = list(params)
        if not groups:
            raise ValueError(f"{name}: got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for g in groups:
            self.add_param_group(g)

    # ---- groups -------------------------------------------------------------------------------
    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group: ``{"params": [...], **overrides}``; missing hyperparameters take the defaults."""
        name = type(self).__name__
        if not isinstance(param_group, dict):
            raise TypeError(f"{name}: a parameter group must be a dict, got {type(param_group).__name__}")
        params = param_group.get("params")
        params = [params] if isinstance(params, Tensor) else list(params or [])
        if not params:
            raise ValueError(f"{name}: a parameter group has no parameters")
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        for i, p in enumerate(params):
            if not isinstance(p, Tensor):
                raise TypeError(f"{name}: can only optimize Tensors, but parameter {i} is {type(p).__name__}")
            if not p.is_leaf or not p.requires_grad:
                raise ValueError(f"{name}: parameter {i} (shape {p.shape}) must be a leaf tensor that requires grad")
            if id(p) in seen:
                raise ValueError(f"{name}: parameter {i} (shape {p.shape}) appears in more than one place; "
                                 "each parameter may be given once")
            seen.add(id(p))
        unknown = set(param_group) - set(self.defaults) - {"params", "initial_lr"}
        if unknown:
            raise ValueError(f"{name}: unknown option(s) {sorted(unknown)} in a parameter group; "
                             f"expected some of {sorted(self.defaults)}")
        group = {**self.defaults, **param_group, "params": params}
        self._check_group(group)
        self.param_groups.append(group)

    def _check_group(self, group: dict[str, Any]) -> None:
        """Validate (and normalize to Python numbers) one group's hyperparameters; ValueError if bad."""

    # ---- stepping -----------------------------------------------------------------------------
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset every parameter's ``.grad``: to None (default, as PyTorch) or to zeros in place."""
        for g in self.param_groups:
            for p in g["params"]:
                if set_to_none:
                    p.grad = None
                elif p.grad is not None:
                    p.grad[...] = 0

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One update of every parameter with a gradient; ``closure`` (re-evaluates and returns the
        loss) is called first if given, and its result returned."""
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    self._update(p, p.grad, group, self.state[p])
        return loss

    def _update(self, p: Tensor, grad: np.ndarray, group: dict[str, Any], state: dict[str, Any]) -> None:
        raise NotImplementedError(f"{type(self).__name__} must define _update()")

    def _buffer(self, p: Tensor, k: int) -> np.ndarray:
        """Scratch array ``k`` with ``p``'s shape and dtype, reused across parameters and steps (no
        allocation per step once it has grown to the largest parameter)."""
        data = p.data
        buf = self._scratch.get((data.dtype, k))
        if buf is None or buf.size < data.size:
            buf = self._scratch[(data.dtype, k)] = np.empty(data.size, data.dtype)
        return buf[: data.size].reshape(data.shape)

    # ---- state --------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """``{"state": {index: {...}}, "param_groups": [{..., "params": [indices]}]}`` with array copies."""
        index: dict[int, int] = {}
        groups = []
        for g in self.param_groups:
            ids = []
            for p in g["params"]:
                ids.append(index.setdefault(id(p), len(index)))
            groups.append({**{k: v for k, v in g.items() if k != "params"}, "params": ids})
        state = {}
        for g in self.param_groups:
            for p in g["params"]:
                if self.state.get(p):
                    state[index[id(p)]] = {k: v.copy() if isinstance(v, np.ndarray) else v
                                           for k, v in self.state[p].items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore hyperparameters and per-parameter state saved by ``state_dict()`` (directly or via
        ``tg.save``/``tg.load`` + ``unflatten``), all or nothing.

        Everything is checked before anything changes: the number of groups and of parameters per
        group, that the saved hyperparameters are this optimizer's (an SGD state cannot load into
        Adam) with valid values, that every state entry is one this optimizer keeps (``state_keys``),
        that ``step`` counts are integers >= 0, and that arrays have the parameter's shape and a dtype
        castable to it. Any problem raises ValueError naming the group, parameter or key.
        """
        name = f"{type(self).__name__}.load_state_dict"
        if not isinstance(state_dict, Mapping) or set(state_dict) - {"state"} != {"param_groups"}:
            raise ValueError(f"{name}: expected a mapping with keys 'state' and 'param_groups', got "
                             f"{sorted(state_dict) if isinstance(state_dict, Mapping) else type(state_dict).__name__}")
        saved_groups = _as_list(state_dict["param_groups"])
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(f"{name}: the saved state has {len(saved_groups)} parameter group(s), "
                             f"this optimizer has {len(self.param_groups)}")
        params: dict[int, Tensor] = {}
        new_groups = [self._loaded_group(name, gi, saved, group, params)
                      for gi, (saved, group) in enumerate(zip(saved_groups, self.param_groups))]
        saved_state = state_dict.get("state", {})
        if not isinstance(saved_state, Mapping):
            raise ValueError(f"{name}: 'state' must be a mapping from parameter index to its state, "
                             f"got {type(saved_state).__name__}")
        new_state: dict[Tensor, dict[str, Any]] = {}
        for key, entries in saved_state.items():
            index = _index(key)
            if index is None or index not in params:
                raise ValueError(f"{name}: state for parameter {key!r} but no such parameter in the groups")
            new_state[params[index]] = self._loaded_entry(name, key, entries, params[index])
        self.param_groups[:] = new_groups
        self.state.clear()
        self.state.update(new_state)

    def _loaded_group(self, name: str, gi: int, saved: Any, group: dict[str, Any],
                      params: dict[int, Tensor]) -> dict[str, Any]:
        """Saved group ``gi`` checked against this optimizer's group; records index -> parameter in ``params``."""
        if not isinstance(saved, Mapping) or "params" not in saved:
            raise ValueError(f"{name}: saved group {gi} is not a mapping with a 'params' entry")
        ids = [_index(i) for i in np.asarray(saved["params"]).ravel().tolist()]
        if any(i is None for i in ids) or len(set(ids)) != len(ids):
            raise ValueError(f"{name}: saved group {gi} has parameter indices {saved['params']!r}; expected "
                             "distinct integers >= 0")
        if len(ids) != len(group["params"]):
            raise ValueError(f"{name}: saved group {gi} has {len(ids)} parameter(s), this optimizer's "
                             f"group has {len(group['params'])}")
        keys = set(saved) - {"params", "initial_lr"}
        if keys != set(self.defaults):
            extra, lacking = sorted(keys - set(self.defaults)), sorted(set(self.defaults) - keys)
            raise ValueError(f"{name}: saved group {gi} does not fit {type(self).__name__}: unexpected "
                             f"hyperparameter(s) {extra}, missing {lacking} (saved by another optimizer?)")
        new = {k: _like(group.get(k), v) for k, v in saved.items() if k != "params"}
        if "initial_lr" in new:
            new["initial_lr"] = check_hyper(name, f"group {gi} initial_lr", new["initial_lr"])
        try:
            self._check_group(new)
        except (ValueError, TypeError) as e:
            raise ValueError(f"{name}: saved group {gi}: {e}") from None
        new["params"] = group["params"]
        params.update(zip(ids, group["params"]))  # type: ignore[arg-type]
        return new

    def _loaded_entry(self, name: str, key: Any, entries: Any, p: Tensor) -> dict[str, Any]:
        """One parameter's saved state, checked and copied into arrays of the parameter's dtype."""
        if not isinstance(entries, Mapping):
            raise ValueError(f"{name}: state of parameter {key} must be a mapping, got {type(entries).__name__}")
        entry: dict[str, Any] = {}
        for k, v in entries.items():
            where = f"state {k!r} of parameter {key}"
            if k not in self.state_keys:
                raise ValueError(f"{name}: {where} is not kept by {type(self).__name__} (it keeps "
                                 f"{sorted(self.state_keys)}; saved by another optimizer?)")
            arr = np.asarray(v)
            if k == "step":
                step = _index(v)
                if step is None:
                    raise ValueError(f"{name}: {where} must be an integer >= 0, got {v!r}")
                entry[k] = step
            elif arr.dtype.kind not in "biuf" or not np.can_cast(arr.dtype, p.dtype, casting="same_kind"):
                raise ValueError(f"{name}: {where} has dtype {arr.dtype}, which cannot be cast to the "
                                 f"parameter's {p.dtype}")
            elif arr.shape != p.shape:
                raise ValueError(f"{name}: {where} has shape {arr.shape}, the parameter has shape {p.shape}")
            else:
                entry[k] = arr
        return {k: v if k == "step" else np.array(v, dtype=p.dtype, copy=True) for k, v in entry.items()}

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, g in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {k}: {g[k]}" for k in sorted(g) if k != "params"]
        return "\n".join(lines) + "\n)"


def _as_list(groups: Any) -> list[Mapping[str, Any]]:
    """Parameter groups as saved: a list, or a mapping {"0": ..., "1": ...} after unflatten."""
    if isinstance(groups, Mapping):
        return [groups[k] for k in sorted(groups, key=int)]
    return list(groups)


def _index(value: Any) -> int | None:
    """``value`` (an int, a 0-d integer array or a decimal string key) as an int >= 0, else None."""
    if isinstance(value, str):
        return int(value) if value.isdigit() else None
    if isinstance(value, (np.ndarray, np.generic)) and value.ndim == 0:
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        return None
    return int(value)


def _like(current: Any, saved: Any) -> Any:
    """A saved hyperparameter with the Python type the current one has (0-d arrays and arrays from
    ``tg.load`` become floats, bools, ints or tuples again)."""
    if isinstance(saved, np.ndarray) or isinstance(saved, np.generic):
        saved = saved.tolist()
    if isinstance(current, tuple):
        return tuple(saved)
    if isinstance(current, bool):
        return bool(saved)
    if isinstance(current, (int, float)) and not isinstance(saved, bool):
        return type(current)(saved) if isinstance(saved, (int, float)) else saved
    return saved
