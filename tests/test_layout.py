"""The package's import rule (docs/autograd.md, "Layout"): imports go one way, down the layers, so a reader
can start at the engine and never be sent upward. Each module's imports are read with ast, function-local
ones included, and compared with what its part of the package may import."""

from __future__ import annotations

import ast
import pathlib
import subprocess
import sys

import tinygrad_bn

ROOT = pathlib.Path(tinygrad_bn.__file__).parent

# part of the package -> the parts it may import (itself always allowed)
ALLOWED = {
    "checks": set(), "random": set(), "tables": set(),
    "engine": set(),                       # numpy only (engine/tensor.py: see ENGINE_TENSOR below)
    "ops": {"engine", "random"},
    "functional": {"engine", "ops", "checks", "random"},
    "autograd": {"engine", "tables"},      # tables: the backward trace prints Markdown
    "creation": {"engine", "random", "checks"},
    "serialization": {"engine"},
    "nn": {"engine", "functional", "checks", "random"},
    "optim": {"engine", "checks"},
    "testing": {"engine", "functional", "random", "checks"},
    "models": {"nn", "checks"},
    "data": {"engine", "checks", "random"},
    "viz": {"engine", "nn"},
    "diagnostics": {"engine", "nn", "tables"},
    "train": {"engine", "functional", "checks", "nn"},
    "checkpoint": {"random", "serialization"},
}
# The one upward import of the engine: Tensor's operators are one-line calls into functional.
ENGINE_TENSOR = {"functional"}


def _part(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _imports(path: pathlib.Path, module: str) -> set[str]:
    """The tinygrad_bn modules that ``path`` imports, as dotted names."""
    found = set()
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = package.split(".")
            if node.level:
                base = base[:len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            names = [f"{target}.{a.name}" for a in node.names] if node.module is None or node.level else [target]
            found.update(n for n in names + [target] if n.startswith("tinygrad_bn"))
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("tinygrad_bn"))
    return found


def _modules():
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT.parent).with_suffix("")
        name = ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)
        yield path, name


def test_imports_go_one_way():
    wrong = []
    for path, module in _modules():
        part = _part(module)
        if part in ("cli", "__init__", "__main__"):
            continue
        allowed = ALLOWED[part] | {part} | (ENGINE_TENSOR if module == "tinygrad_bn.engine.tensor" else set())
        for target in _imports(path, module):
            if target != "tinygrad_bn" and _part(target) not in allowed:
                wrong.append(f"{module} imports {target}")
    assert not wrong, "\n".join(sorted(wrong))


def test_nothing_imports_the_command_line():
    wrong = [f"{m} imports {t}" for p, m in _modules() if _part(m) not in ("cli", "__main__")
             for t in _imports(p, m) if _part(t) == "cli"]
    assert not wrong, wrong


def test_every_module_belongs_to_a_part_with_a_rule():
    parts = {_part(m) for _, m in _modules()} - {"cli", "__init__", "__main__"}
    assert parts <= set(ALLOWED), parts - set(ALLOWED)


def test_import_tinygrad_bn_leaves_the_command_line_out():
    code = "import sys, tinygrad_bn; print(sorted(m for m in sys.modules if m.startswith('tinygrad_bn.cli')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
