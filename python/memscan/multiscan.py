"""`MultiScan`: one value searched in several types at once ("any integer", "any number")."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Self

from ._lazy import pl
from .scanner import Scanner

if TYPE_CHECKING:
    import polars

__all__ = ["MultiScan"]


class MultiScan:
    """A scanner per value type; next scans apply to each, and each candidate keeps its type."""

    def __init__(self, scanners: dict[str, Scanner]) -> None:
        self.scanners = scanners

    def next(self, op: str, *values: Any, against: str | None = None) -> Self:
        """Applies a next scan to every type (constants are fitted to each type; a type that
        cannot hold them drops out)."""
        from .errors import InvalidValue

        for t, s in list(self.scanners.items()):
            try:
                s.next(op, *values, against=against)
            except InvalidValue:
                del self.scanners[t]
        return self

    def __len__(self) -> int:
        return sum(len(s) for s in self.scanners.values())

    def counts(self) -> dict[str, int]:
        """Candidates per type."""
        return {t: len(s) for t, s in self.scanners.items()}

    def to_polars(self) -> polars.DataFrame:
        """address, type, value (as text, exact for every type), region_kind."""
        frames = [
            s.to_polars()
            .select("address", "value", "region_kind")
            .with_columns(pl.lit(t).alias("type"), pl.col("value").cast(pl.String))
            for t, s in self.scanners.items()
        ]
        if not frames:
            return pl.DataFrame(
                schema={"address": pl.UInt64, "value": pl.String, "type": pl.String}
            )
        return pl.concat(frames).sort("address")

    def __repr__(self) -> str:
        return f"MultiScan({self.counts()})"
