"""``Module`` and ``Parameter``: the containers layers are built from, with PyTorch's interface.

A Module finds its parameters, buffers and sub-modules from plain attribute assignment
(``self.fc = Linear(...)``, ``self.weight = Parameter(...)``) and ``register_buffer`` (for state
that is saved but not trained, such as BatchNorm's running statistics). ``train()``/``eval()`` set
``training`` on the whole tree; layers like BatchNorm and Dropout read it. Forward hooks
(``register_forward_pre_hook``, ``register_forward_hook``) see, and may replace, a module's inputs and
output on every call.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from typing import Any, NamedTuple

import numpy as np

from ..engine.hooks import RemovableHandle
from ..engine.tensor import Tensor


class Parameter(Tensor):
    """A Tensor that is a trainable weight of a Module (``requires_grad=True`` by default)."""

    __slots__ = ()

    def __init__(self, data: Any, requires_grad: bool = True):
        super().__init__(data.data if isinstance(data, Tensor) else data, requires_grad=requires_grad)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()


class IncompatibleKeys(NamedTuple):
    missing_keys: list[str]
    unexpected_keys: list[str]


class Module:
    """Base class of every layer and model. Subclasses call ``super().__init__()`` and define ``forward``."""

    training: bool

    def __init__(self) -> None:
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_non_persistent", set())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_forward_pre_hooks", OrderedDict())
        object.__setattr__(self, "_forward_hooks", OrderedDict())

    # ---- registration -------------------------------------------------------------------------
    def __setattr__(self, name: str, value: Any) -> None:
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"{type(self).__name__}: call super().__init__() before assigning attributes")
        if name in self._buffers and not isinstance(value, (Parameter, Module)):
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(f"{type(self).__name__}: buffer {name!r} must be a Tensor or None, "
                                f"got {type(value).__name__}")
            self._buffers[name] = value
            return
        for store in (self._parameters, self._buffers, self._modules, self.__dict__):
            store.pop(name, None)
        if isinstance(value, Parameter):
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._modules[name] = value
        else:
            object.__setattr__(self, name, value)

    def __getattr__(self, name: str) -> Any:
        for store in ("_parameters", "_buffers", "_modules"):
            d = self.__dict__.get(store)
            if d is not None and name in d:
                return d[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name: str) -> None:
        for store in (self._parameters, self._buffers, self._modules):
            if name in store:
                del store[name]
                return
        object.__delattr__(self, name)

    def register_buffer(self, name: str, tensor: Tensor | None, persistent: bool = True) -> None:
        """Add state that is saved in ``state_dict`` (if persistent) but is not a parameter."""
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"register_buffer: {name!r} must be a Tensor or None, got {type(tensor).__name__}")
        self.__dict__.pop(name, None)
        self._buffers[name] = tensor
        (self._non_persistent.discard if persistent else self._non_persistent.add)(name)

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"register_parameter: {name!r} must be a Parameter or None, got {type(param).__name__}")
        self._parameters[name] = param

    def add_module(self, name: str, module: Module | None) -> None:
        self._modules[name] = module

    # ---- calling ------------------------------------------------------------------------------
    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """``forward(*args, **kwargs)``, with the forward hooks around it (pre-hooks first, then hooks)."""
        if not (self._forward_pre_hooks or self._forward_hooks):
            return self.forward(*args, **kwargs)
        for hook in list(self._forward_pre_hooks.values()):
            result = hook(self, args)
            if result is not None:
                args = result if isinstance(result, tuple) else (result,)
        output = self.forward(*args, **kwargs)
        for hook in list(self._forward_hooks.values()):
            result = hook(self, args, output)
            if result is not None:
                output = result
        return output

    def register_forward_pre_hook(self, hook: Callable[[Module, tuple], Any]) -> RemovableHandle:
        """``hook(module, args)`` runs before every ``forward``; it may return replacement args.

        ``args`` is the tuple of positional arguments (keyword arguments go to ``forward`` unchanged). A
        returned tuple replaces ``args``, any other non-None value becomes the single argument, as in
        PyTorch. Hooks run in the order they were registered; ``handle.remove()`` takes one off.
        """
        return RemovableHandle(self._forward_pre_hooks, hook, "register_forward_pre_hook")

    def register_forward_hook(self, hook: Callable[[Module, tuple, Any], Any]) -> RemovableHandle:
        """``hook(module, args, output)`` runs after every ``forward``; a non-None result replaces the output.

        ``args`` are the positional arguments ``forward`` received (after the pre-hooks). Hooks run in
        the order they were registered, each seeing the output as the previous one left it.
        """
        return RemovableHandle(self._forward_hooks, hook, "register_forward_hook")

    # ---- traversal ----------------------------------------------------------------------------
    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        """This module and every sub-module, depth first, with dotted names ('' for this one)."""
        seen: set[int] = set()
        stack = [(prefix, self)]
        while stack:
            name, m = stack.pop()
            if id(m) in seen:
                continue
            seen.add(id(m))
            yield name, m
            children = [(f"{name}.{k}" if name else k, c) for k, c in m._modules.items() if c is not None]
            stack.extend(reversed(children))

    def modules(self) -> Iterator[Module]:
        return (m for _, m in self.named_modules())

    def named_children(self) -> Iterator[tuple[str, Module]]:
        return ((k, m) for k, m in self._modules.items() if m is not None)

    def children(self) -> Iterator[Module]:
        return (m for _, m in self.named_children())

    def _named(self, store: str, recurse: bool) -> Iterator[tuple[str, Tensor]]:
        seen: set[int] = set()
        mods = self.named_modules() if recurse else iter([("", self)])
        for prefix, m in mods:
            for k, v in getattr(m, store).items():
                if v is not None and id(v) not in seen:
                    seen.add(id(v))
                    yield (f"{prefix}.{k}" if prefix else k), v

    def named_parameters(self, recurse: bool = True) -> Iterator[tuple[str, Parameter]]:
        return self._named("_parameters", recurse)  # type: ignore[return-value]

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        return (p for _, p in self.named_parameters(recurse))

    def named_buffers(self, recurse: bool = True) -> Iterator[tuple[str, Tensor]]:
        return self._named("_buffers", recurse)

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        return (b for _, b in self.named_buffers(recurse))

    def apply(self, fn: Callable[[Module], None]) -> Module:
        """Call ``fn`` on every sub-module and then on this one (as PyTorch), e.g. for initialization."""
        for m in reversed(list(self.modules())):
            fn(m)
        return self

    # ---- modes and gradients ------------------------------------------------------------------
    def train(self, mode: bool = True) -> Module:
        """Set training mode (``mode=True``) or evaluation mode on this module and all sub-modules."""
        if not isinstance(mode, bool):
            raise TypeError(f"train: mode must be a bool, got {type(mode).__name__}")
        for m in self.modules():
            object.__setattr__(m, "training", mode)
        return self

    def eval(self) -> Module:
        """Evaluation mode: BatchNorm uses running statistics, Dropout is the identity."""
        return self.train(False)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset every parameter's ``.grad`` (to None by default, as PyTorch)."""
        for p in self.parameters():
            if set_to_none or p.grad is None:
                p.grad = None
            else:
                p.grad = np.zeros_like(p.data)

    # ---- state --------------------------------------------------------------------------------
    def state_dict(self) -> OrderedDict[str, np.ndarray]:
        """Parameters and persistent buffers by dotted name, as numpy *copies*."""
        out: OrderedDict[str, np.ndarray] = OrderedDict()
        for prefix, m in self.named_modules():
            dot = f"{prefix}." if prefix else ""
            for k, p in m._parameters.items():
                if p is not None:
                    out[dot + k] = p.data.copy()
            for k, b in m._buffers.items():
                if b is not None and k not in m._non_persistent:
                    out[dot + k] = b.data.copy()
        return out

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True) -> IncompatibleKeys:
        """Copy values into this module's parameters and buffers (keeping their dtypes), all or nothing.

        Every value is checked first: missing and unexpected keys (when ``strict``), shapes, and that
        the dtype can be cast to the parameter's within its kind (float64 -> float32 yes, float ->
        int64 or string -> float no). Any problem raises ValueError (TypeError if ``state_dict`` is not
        a mapping) naming the keys, and nothing is changed.
        """
        name = f"load_state_dict for {type(self).__name__}"
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"{name}: expected a mapping of names to arrays (such as model.state_dict() or "
                            f"tg.load(path)), got {type(state_dict).__name__}")
        own = self._state_tensors()
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        problems = []
        if strict and (missing or unexpected):
            problems.append(f"missing keys {missing}, unexpected keys {unexpected}")
        values: dict[str, np.ndarray] = {}
        for k, t in own.items():
            if k not in state_dict:
                continue
            v = state_dict[k]
            try:
                value = np.asarray(v.data if isinstance(v, Tensor) else v)
            except (ValueError, TypeError) as e:
                problems.append(f"{k!r}: not an array ({type(v).__name__}: {e})")
                continue
            if value.dtype.kind not in "biuf" or not np.can_cast(value.dtype, t.dtype, casting="same_kind"):
                problems.append(f"{k!r}: dtype {value.dtype} cannot be cast to the {t.dtype} of this module's "
                                f"tensor")
            elif value.shape != t.shape:
                problems.append(f"{k!r}: expected shape {t.shape}, got {value.shape}")
            else:
                values[k] = value
        if problems:
            raise ValueError(f"{name}: " + "; ".join(problems) + " (nothing was loaded)")
        converted = {k: np.array(v, dtype=own[k].dtype, copy=True) for k, v in values.items()}
        for k, v in converted.items():
            own[k].data = v
        return IncompatibleKeys(missing, unexpected)

    def _state_tensors(self) -> dict[str, Tensor]:
        out = {}
        for prefix, m in self.named_modules():
            dot = f"{prefix}." if prefix else ""
            out.update({dot + k: p for k, p in m._parameters.items() if p is not None})
            out.update({dot + k: b for k, b in m._buffers.items() if b is not None and k not in m._non_persistent})
        return out

    # ---- printing -----------------------------------------------------------------------------
    def extra_repr(self) -> str:
        """The text inside this module's parentheses in ``repr`` (e.g. ``in_features=784, ...``)."""
        return ""

    def __repr__(self) -> str:
        lines = [f"({k}): " + repr(m).replace("\n", "\n  ") for k, m in self._modules.items()]
        head = f"{type(self).__name__}({self.extra_repr()}"
        if not lines:
            return head + ")"
        return head + "\n  " + "\n  ".join(lines) + "\n)"
