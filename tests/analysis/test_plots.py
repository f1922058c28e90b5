"""memscan's plots render without network: Jupyter gets an SVG drawn in this process, never
HTML that loads Vega from a CDN, whatever Altair's renderer; the charts stay Altair charts."""

from __future__ import annotations

import io
import json
import re
import tomllib
from pathlib import Path

import altair as alt
import pytest
from IPython.core.formatters import DisplayFormatter

import memscan


def shown(chart) -> dict[str, str]:
    """What Jupyter receives when a cell's value is ``chart``."""
    data, _ = DisplayFormatter().format(chart)
    return data


def assert_offline_svg(data: dict[str, str], *texts: str) -> None:
    assert set(data) == {"image/svg+xml", "text/plain"}
    svg = data["image/svg+xml"]
    assert svg.startswith("<svg") and "<script" not in svg and "https://" not in svg
    for text in texts:
        assert f">{text}<" in svg, text
    assert data["text/plain"].startswith("alt.LayerChart")


@pytest.mark.parametrize("renderer", ["default", "html"])
def test_history_and_change_map_plots_are_svg_drawn_here(game, proc, renderer):
    rec = proc.record([game.address("health"), game.address("gold")], "i32", interval=None)
    for i in range(12):
        game.damage(3)
        rec.sample("goblin" if i == 4 else None)
    before = proc.snapshot(progress=False)
    game.gain_gold(5)
    changes = proc.snapshot(progress=False).diff(before)
    with alt.renderers.enable(renderer):  # what Altair alone would show: HTML loading Vega
        assert "text/html" in alt.Chart().mark_point()._repr_mimebundle_()
        chart = rec.stop().plot(names={game.address("health"): "health"})
        assert_offline_svg(shown(chart), "health", "goblin")
        assert_offline_svg(shown(changes.plot(mark={"gold": game.address("gold")})), "gold")
    # Still an Altair chart: changed, saved, and drawn the same way after a change.
    wider = chart.properties(width=700)
    assert isinstance(wider, alt.LayerChart) and 'width="' in shown(wider)["image/svg+xml"]
    saved = io.StringIO()
    chart.save(saved, format="json")
    assert json.loads(saved.getvalue())["layer"][0]["mark"]["type"] == "line"


def test_plots_need_the_plot_extra_only():
    """vl-convert comes with memscan[plot] (and so with memscan[all])."""
    pyproject = next(p / "pyproject.toml" for p in Path(__file__).parents if (p / ".ci").is_dir())
    extras = tomllib.loads(pyproject.read_text())["project"]["optional-dependencies"]
    names = {re.split(r"[<>=]", r, maxsplit=1)[0] for r in extras["plot"]}
    assert names == {"altair", "vl-convert-python"} and "plot" in extras["all"][0]
    assert memscan.plots.layer().to_dict()["layer"] == []
