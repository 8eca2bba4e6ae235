"""The README's Python snippets run as written, in order, in one namespace (as a reader would paste them)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


def test_readme_has_python_snippets() -> None:
    assert len(python_blocks(README.read_text())) >= 5


def test_readme_snippets_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # snippets write model.npz and graph.svg
    namespace: dict[str, object] = {}
    have_dot = shutil.which("dot") is not None
    for i, block in enumerate(python_blocks(README.read_text())):
        if not have_dot:  # without Graphviz's binary, render raises (tested in test_viz); keep the DOT source
            block = block.replace('tg.viz.render(dot, "graph.svg")', 'dot.save("graph.svg.dot")')
        try:
            exec(compile(block, f"README.md python block {i}", "exec"), namespace)
        except Exception as err:  # name the block that failed
            raise AssertionError(f"README python block {i} failed: {err!r}\n{block}") from err
    assert (tmp_path / "model.npz").exists()
    svg = tmp_path / ("graph.svg" if have_dot else "graph.svg.dot")
    assert svg.exists() and svg.stat().st_size > 1000
