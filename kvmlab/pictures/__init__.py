"""Pictures for the notebooks: what ``qemu-img info`` and ``virsh net-dumpxml`` say, drawn.

* :mod:`kvmlab.pictures.chain`: a backing chain, base to active layer (graphviz);
* :mod:`kvmlab.pictures.network`: libvirt networks, host bridges, taps and guests (graphviz);
* :mod:`kvmlab.pictures.migration`: the pre-copy rounds of a migration, from ``query-migrate`` (matplotlib);
* :mod:`kvmlab.pictures.bench`: ``qemu-img bench`` figures as bars (matplotlib).

Drawings are ``graphviz.Digraph`` objects (JupyterLab shows them as SVG; Debian's
``dot`` lays them out, nothing comes from the network); plots are :class:`Plot`,
a matplotlib figure drawn with the Agg canvas, shown as PNG. :func:`save` writes
either to a file.

Nothing here imports graphviz or matplotlib at module import: the CLI never
pays for them, a notebook only when it draws.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from matplotlib.figure import Figure

MIB = 1024 * 1024


class Drawing(Protocol):
    """What a ``graphviz.Digraph`` offers: its DOT source, dot's output (``pipe(format="svg")``), files (``render``);
    JupyterLab shows it as SVG."""

    @property
    def source(self) -> str: ...

    def pipe(self, format: str | None = None) -> bytes: ...


def new_figure(width: float = 8.0, height: float = 4.5) -> Figure:
    """A matplotlib figure on its own Agg canvas: no pyplot, no global state, no GUI backend in the kernel."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    return figure


class Plot:
    """A matplotlib figure as JupyterLab shows it (PNG); ``save()`` writes PNG, SVG or PDF by the file's suffix."""

    def __init__(self, figure: Figure, dpi: int = 100) -> None:
        self.figure = figure
        self.dpi = dpi

    def _render(self, fmt: str) -> bytes:
        import io

        buf = io.BytesIO()
        self.figure.savefig(buf, format=fmt, dpi=self.dpi)
        return buf.getvalue()

    def png(self) -> bytes:
        return self._render("png")

    def svg(self) -> str:
        return self._render("svg").decode()

    def _repr_png_(self) -> bytes:
        return self.png()

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        self.figure.savefig(path, dpi=self.dpi)
        return path


def save(picture: Any, path: str | Path) -> Path:
    """Write a picture of this package to ``path``; the suffix says the format (.svg, .png, .pdf)."""
    path = Path(path)
    if isinstance(picture, Plot):
        return picture.save(path)
    fmt = path.suffix.lstrip(".") or "svg"
    picture.render(outfile=path, format=fmt, cleanup=True)  # graphviz: cleanup drops the DOT source it writes first
    return path


def human_size(size: int | None) -> str:
    """Bytes in IEC units, as qemu-img prints them (1 GiB, 196 KiB); "?" when unknown."""
    if size is None:
        return "?"
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" or value == int(value) else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"  # not reached
