import csv
import json

import numpy as np
import pytest

from tinygrad_bn.cli import reporting
from tinygrad_bn.tables import markdown_table


def test_write_csv_roundtrip(tmp_path):
    rows = [{"a": 1, "b": 0.5}, {"a": 2, "b": 0.25, "c": "x"}]
    p = reporting.write_csv(tmp_path / "sub" / "t.csv", rows)
    with p.open() as f:
        got = list(csv.DictReader(f))
    assert list(got[0]) == ["a", "b", "c"]
    assert got[0] == {"a": "1", "b": "0.5", "c": ""}
    assert got[1]["c"] == "x"


def test_write_json_numpy(tmp_path):
    p = reporting.write_json(tmp_path / "t.json", {"x": np.float32(1.5), "v": np.arange(3)})
    assert json.loads(p.read_text()) == {"x": 1.5, "v": [0, 1, 2]}
    with pytest.raises(TypeError, match="write_json"):
        reporting.write_json(tmp_path / "u.json", {"x": object()})


def test_markdown_table_format_and_alignment():
    rows = [{"name": "a", "v": 0.123456}, {"name": "bb|c", "v": 10.0}]
    t = markdown_table(rows, floatfmt=".3f")
    lines = t.split("\n")
    assert len(lines) == 4
    assert lines[0].split("|")[1].strip() == "name"
    assert lines[1].endswith(":|")  # numeric column right-aligned
    assert "0.123" in lines[2] and "10.000" in lines[3]
    assert "bb\\|c" in lines[3]  # pipes escaped
    only_v = markdown_table(rows, columns=["v"]).split("\n")
    assert [c.strip() for c in only_v[0].split("|")[1:-1]] == ["v"]
    with pytest.raises(TypeError, match="markdown_table"):
        markdown_table("not rows")
    with pytest.raises(TypeError, match="rows\\[0\\]"):
        markdown_table([1])


def test_plots_write_png_or_return_none(tmp_path):
    pytest.importorskip("matplotlib")
    p = reporting.line_plot(tmp_path / "l.png", {"a": ([0, 1, 2], [1, 2, 3])}, "x", "y", "t")
    assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    b = reporting.bar_plot(tmp_path / "b.png", ["g1", "g2"], {"s": [1.0, 0.5], "t": [0.9, 1.1]}, "g", "y", "t",
                           hline=1.0)
    assert b.read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(ValueError, match="bar_plot"):
        reporting.bar_plot(tmp_path / "c.png", ["g1"], {"s": [1.0, 2.0]}, "g", "y", "t")
    with pytest.raises(ValueError, match="line_plot"):
        reporting.line_plot(tmp_path / "c.png", {"a": ([0, 1], [1])}, "x", "y", "t")


def test_plots_without_matplotlib(tmp_path, monkeypatch):
    monkeypatch.setattr(reporting, "_pyplot", lambda: None)
    assert reporting.line_plot(tmp_path / "l.png", {"a": ([0], [1])}, "x", "y", "t") is None
    assert reporting.bar_plot(tmp_path / "b.png", ["g"], {"s": [1]}, "x", "y", "t") is None
    assert not (tmp_path / "l.png").exists()
    assert "matplotlib" in reporting.plot_note(None)


def test_line_plots_panels_and_format_strings(tmp_path):
    panels = [{"series": {"a": ([0, 1], [1, 2], "--C0"), "_hidden": ([0, 1], [1, 3], "oC0")},
               "xlabel": "x", "ylabel": "y", "title": "one", "ylim": (0, 4)},
              {"series": {"b": ([0, 1, 2], [3, 2, 1])}, "xlabel": "x", "ylabel": "y", "title": "two"}]
    with pytest.raises(ValueError, match="panel 1 lacks"):
        reporting.line_plots(tmp_path / "p.png", [panels[0], {"series": {}}])
    with pytest.raises(ValueError, match="line_plots: need at least one panel"):
        reporting.line_plots(tmp_path / "p.png", [])
    pytest.importorskip("matplotlib")
    p = reporting.line_plots(tmp_path / "p.png", panels, title="both")
    assert p.read_bytes()[:4] == b"\x89PNG"
