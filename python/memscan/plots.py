"""Charts that render without network. memscan's plots are Altair charts that Jupyter shows as a
static SVG drawn here by vl-convert (``memscan[plot]``), whatever Altair's renderer: Altair's
default output loads Vega from a CDN, which fails on air-gapped machines. The chart stays an
Altair chart (``.properties()``, ``.save()``, ``.to_dict()``); without vl-convert it is shown as
Altair shows it."""

from __future__ import annotations

import functools
import io
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import altair

__all__ = ["layer"]


def layer(*charts: altair.Chart) -> altair.LayerChart:
    """``alt.layer(*charts)``, shown as SVG rendered in this process."""
    return _offline_layer_chart()(layer=list(charts))


@functools.cache
def _offline_layer_chart() -> type[altair.LayerChart]:
    import altair as alt

    class LayerChart(alt.LayerChart):
        """An ``alt.LayerChart`` whose Jupyter display is an SVG made by vl-convert."""

        def _repr_mimebundle_(self, *args: Any, **kwargs: Any) -> Any:
            try:
                import vl_convert  # noqa: F401  (what save(format="svg") uses)
            except ImportError:
                return super()._repr_mimebundle_(*args, **kwargs)
            svg = io.StringIO()
            self.save(svg, format="svg")
            return {"image/svg+xml": svg.getvalue()}

    return LayerChart
