"""A backing chain drawn base to active layer, from ``qemu-img info --backing-chain --output=json -U``.

Templates, external snapshots, blockcommit and blockpull all change the
same picture: which file backs which. Each layer is a node (file name,
format, virtual size, what it takes on the host's disk); each arrow goes
from an overlay to its backing file, as ``backing-filename`` points; the
active layer (the top, where writes go) is marked, and the guest that
writes there when one is named.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kvmlab.errors import CommandFailed, UsageError
from kvmlab.pictures import human_size
from kvmlab.resources.image import Image, ImageInfo

if TYPE_CHECKING:
    import graphviz

    from kvmlab.host import Host

ACTIVE_FILL = "#ffe9a8"
BASE_FILL = "#e4e4e4"
OVERLAY_FILL = "#ffffff"


def layer_id(depth: int) -> str:
    """The node of the layer ``depth`` steps above the base (layer0 is the base)."""
    return f"layer{depth}"


def read_chain(path: str | Path) -> list[ImageInfo]:
    """The chain of the image at ``path``, top image first (as qemu-img lists it); errors say what to do."""
    image = Image(path)
    if not image.exists:
        raise UsageError(f"no image at {path}", "give the path of an image file: lab.show_chain('/path/to/disk.qcow2')")
    layers = image.chain()
    if not layers:
        raise CommandFailed(
            f"qemu-img info --backing-chain could not read the chain of {path}",
            f"run `qemu-img info --backing-chain -U {path}`: a backing file may be missing or unreadable",
        )
    return layers


def layers_from_json(data: str | Sequence[Mapping[str, Any]]) -> list[ImageInfo]:
    """The layers in the JSON of ``qemu-img info --backing-chain --output=json`` (a text or its parsed list)."""
    entries = json.loads(data) if isinstance(data, str) else data
    if isinstance(entries, Mapping):  # qemu-img info without --backing-chain: one image
        entries = [entries]
    layers = [info for entry in entries if (info := ImageInfo.from_json(entry)) is not None]
    if not layers:
        raise UsageError("no image in this JSON", "give the output of qemu-img info --backing-chain --output=json")
    return layers


def _label(info: ImageInfo, role: str) -> str:
    import graphviz

    lines = [
        Path(info.filename).name or info.filename,
        f"{info.format}, virtual size {human_size(info.virtual_size)}",
        f"on disk {human_size(info.actual_size)}",
        role,
    ]
    # \l: each line left-aligned; escape() keeps a backslash in a file name from being read as one of dot's escapes.
    return "".join(graphviz.escape(line) + "\\l" for line in lines)


def chain_graph(layers: Sequence[ImageInfo], guest: str | None = None, rankdir: str = "RL") -> graphviz.Digraph:
    """Draw ``layers`` (top image first, as qemu-img lists them): base on the left, the active layer on the right.

    ``rankdir="BT"`` stacks them instead, base at the top and the active layer at the bottom.
    """
    import graphviz

    if not layers:
        raise UsageError("a backing chain has at least one image", "read one with read_chain(path)")
    base_first = list(reversed(layers))
    top = len(base_first) - 1
    graph = graphviz.Digraph("backing_chain", graph_attr={"rankdir": rankdir, "nodesep": "0.3", "ranksep": "0.5"})
    graph.attr("node", shape="box", style="rounded,filled", fontname="Helvetica", fontsize="11")
    graph.attr("edge", fontname="Helvetica", fontsize="9", color="#555555")
    for depth, info in enumerate(base_first):
        if depth == top:
            role = "active layer: the guest writes here" if top else "active layer, no backing file"
            attrs = {"fillcolor": ACTIVE_FILL, "penwidth": "2.5"}
        elif depth == 0:
            role, attrs = "base image", {"fillcolor": BASE_FILL}
        else:
            role, attrs = f"overlay {depth}", {"fillcolor": OVERLAY_FILL}
        graph.node(layer_id(depth), _label(info, role), tooltip=info.filename, **attrs)
    for depth in range(top, 0, -1):
        overlay, backing = base_first[depth], base_first[depth - 1]
        label = f"backing ({overlay.backing_format})" if overlay.backing_format else "backing"
        graph.edge(layer_id(depth), layer_id(depth - 1), label=label, tooltip=overlay.backing_file or backing.filename)
    if guest:
        graph.node("guest", graphviz.escape(f"guest {guest}"), shape="box3d", style="filled", fillcolor="#d7ecff")
        graph.edge("guest", layer_id(top), label="reads and writes", style="dashed")
    return graph


def draw_chain(path: str | Path, guest: str | None = None, rankdir: str = "RL") -> graphviz.Digraph:
    """``qemu-img info --backing-chain`` of ``path``, drawn (see chain_graph)."""
    return chain_graph(read_chain(path), guest, rankdir)


def guest_disk(host: Host, domain: str, target: str | None = None) -> str:
    """The file a guest's disk ``target`` (default: its first disk) is, running or defined."""
    dom = host.domain(domain)
    xml = dom.live or dom.config
    if xml is None:
        raise UsageError(f"there is no guest {domain}", "start the lab first, or name the image: show_chain(path)")
    disks = [d for d in xml.disks() if d.device == "disk" and d.source and (target is None or d.target == target)]
    if not disks:
        where = f"disk {target}" if target else "disk with a file"
        raise UsageError(f"guest {domain} has no {where}", "name the image: show_chain(path)")
    return str(disks[0].source)
