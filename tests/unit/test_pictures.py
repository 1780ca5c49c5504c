"""Pictures drawn from real data: a qcow2 chain made by qemu-img, libvirt's test driver, the lab's migration trace,
bench figures. Each picture is laid out by the real dot / drawn by matplotlib and read back."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from kvmlab.connection import Connection
from kvmlab.errors import CommandFailed, UsageError
from kvmlab.pictures import MIB, Plot, save
from kvmlab.pictures.bench import plot_bench
from kvmlab.pictures.chain import ACTIVE_FILL, draw_chain, layers_from_json
from kvmlab.pictures.migration import last_attempt, plot_migration
from kvmlab.pictures.network import draw_network
from kvmlab.resources.migration import MigrationTrace

DATA = Path(__file__).parent.parent / "data"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def laid_out(graph: Any) -> tuple[dict[str, dict[str, Any]], list[tuple[str, str, dict[str, Any]]]]:
    """What dot made of a graph: nodes by name (label, pos...), edges as (tail, head, attributes)."""
    doc = json.loads(graph.pipe(format="json"))
    by_id = {obj["_gvid"]: obj for obj in doc.get("objects", [])}
    edges = [(by_id[e["tail"]]["name"], by_id[e["head"]]["name"], e) for e in doc.get("edges", [])]
    return {obj["name"]: obj for obj in by_id.values()}, edges


def x_of(node: dict[str, Any]) -> float:
    return float(node["pos"].split(",")[0])


def assert_svg(data: bytes | str) -> ET.Element:
    root = ET.fromstring(data)
    assert root.tag.endswith("svg")
    return root


# -- backing chains ----------------------------------------------------------------------------


@pytest.fixture
def chain3(tmp_path: Path) -> Path:
    """base.qcow2 <- mid.qcow2 <- top.qcow2, made by qemu-img; something written into mid."""

    def img(*args: str) -> None:
        subprocess.run(["qemu-img", *args], check=True, capture_output=True)

    img("create", "-q", "-f", "qcow2", str(tmp_path / "base.qcow2"), "64M")
    img("create", "-q", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", str(tmp_path / "mid.qcow2"))
    img("create", "-q", "-f", "qcow2", "-b", "mid.qcow2", "-F", "qcow2", str(tmp_path / "top.qcow2"))
    return tmp_path / "top.qcow2"


def test_a_three_layer_chain_is_drawn_base_to_active_layer(chain3: Path, tmp_path: Path) -> None:
    graph = draw_chain(chain3, guest="vm-snap")
    nodes, edges = laid_out(graph)
    layers = [nodes[f"layer{i}"] for i in range(3)]
    assert [layer["label"].split("\\l")[0] for layer in layers] == ["base.qcow2", "mid.qcow2", "top.qcow2"]
    # the arrows go from each overlay to its backing file, and from the guest to the top
    assert {(t, h) for t, h, _ in edges} == {("layer2", "layer1"), ("layer1", "layer0"), ("guest", "layer2")}
    # base on the left, active layer on the right (a chain drawn the other way round fails here)
    assert x_of(layers[0]) < x_of(layers[1]) < x_of(layers[2]) < x_of(nodes["guest"])
    # only the top is the active layer, and it looks it
    assert [("active layer" in layer["label"]) for layer in layers] == [False, False, True]
    assert layers[2]["fillcolor"] == ACTIVE_FILL and "base image" in layers[0]["label"]
    for layer in layers:
        assert "qcow2, virtual size 64 MiB" in layer["label"] and "on disk " in layer["label"]
    # dot renders it: the SVG names every file, and save() writes it
    root = assert_svg(graph.pipe(format="svg"))
    texts = {t.text for t in root.iter("{http://www.w3.org/2000/svg}text")}
    assert {"base.qcow2", "mid.qcow2", "top.qcow2", "guest vm-snap"} <= texts
    out = save(graph, tmp_path / "chain.svg")
    assert_svg(out.read_bytes())
    assert save(graph, tmp_path / "chain.png").read_bytes().startswith(PNG_MAGIC)
    # The README shows this drawing (docs/screenshots/backing-chain.png is a copy of it).
    shots = Path(__file__).resolve().parents[2] / "build" / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    save(graph, shots / "backing-chain.png")


def test_a_chain_after_blockcommit_has_one_layer_less(chain3: Path) -> None:
    """qemu-img commit of the top into mid, then rebase: what blockcommit leaves (mid is the top now)."""
    subprocess.run(["qemu-img", "commit", "-q", str(chain3)], check=True)
    nodes, edges = laid_out(draw_chain(chain3.parent / "mid.qcow2"))
    assert sorted(nodes) == ["layer0", "layer1"]
    assert nodes["layer1"]["label"].startswith("mid.qcow2") and "active layer" in nodes["layer1"]["label"]
    assert [(t, h) for t, h, _ in edges] == [("layer1", "layer0")]


def test_one_image_from_qemu_img_json_is_its_own_active_layer() -> None:
    from kvmlab.pictures.chain import chain_graph

    layers = layers_from_json((DATA / "qemu-img-info-qcow2.json").read_text())
    nodes, edges = laid_out(chain_graph(layers))
    assert list(nodes) == ["layer0"] and edges == []
    assert "data.qcow2" in nodes["layer0"]["label"] and "virtual size 1 GiB" in nodes["layer0"]["label"]
    assert "on disk 200 KiB" in nodes["layer0"]["label"]


def test_a_missing_image_or_backing_file_says_what_to_do(tmp_path: Path, chain3: Path) -> None:
    with pytest.raises(UsageError, match="no image at"):
        draw_chain(tmp_path / "nothing.qcow2")
    (chain3.parent / "base.qcow2").unlink()
    with pytest.raises(CommandFailed, match="backing-chain"):
        draw_chain(chain3)


# -- networks --------------------------------------------------------------------------------------

NET_XML = """<network><name>alice-net</name><forward mode='nat'/><bridge name='alice-br0'/>
<ip address='10.9.8.1' prefix='24'/></network>"""
VM_XML = """<domain type='test'><name>{name}</name><memory>65536</memory><vcpu>1</vcpu><os><type>hvm</type></os>
<devices>{nics}</devices></domain>"""
NIC_NET = "<interface type='network'><mac address='{mac}'/><source network='{net}'/><target dev='{tap}'/></interface>"
NIC_BRIDGE = "<interface type='bridge'><mac address='{mac}'/><source bridge='{br}'/><target dev='{tap}'/></interface>"


def fake_sys_net(root: Path, bridges: dict[str, list[str]], taps: list[str]) -> Path:
    """/sys/class/net as the kernel lays it out for bridges (BR/bridge, BR/brif/PORT) and taps (TAP/tun_flags)."""
    for br, ports in bridges.items():
        (root / br / "bridge").mkdir(parents=True)
        for port in ports:
            (root / br / "brif" / port).mkdir(parents=True)
            (root / port).mkdir(exist_ok=True)
    for tap in taps:
        (root / tap).mkdir(exist_ok=True)
        (root / tap / "tun_flags").write_text("0x1002\n")
    return root


def live_taps(conn: Connection, name: str) -> list[str]:
    """The taps a running guest's NICs got (the test driver names them testnetN, whatever the XML asked)."""
    from kvmlab.xmlviews import DomainXML

    return [str(i.target_dev) for i in DomainXML.from_xml(conn.conn.lookupByName(name).XMLDesc(0)).interfaces()]


@pytest.fixture
def lab_host(test_host: Connection, tmp_path: Path) -> tuple[Connection, Path]:
    """alice-vm runs with a NIC on alice-net (its tap in the network's bridge) and one on host bridge alice-br1
    (its tap in no bridge); bob-vm, shut off, on foreign-net; someone else's tap vnet9 in foreign-net's bridge."""
    conn = test_host.conn
    conn.networkCreateXML(NET_XML)
    nics = NIC_NET.format(mac="52:54:00:00:00:01", net="alice-net", tap="vnet7")
    nics += NIC_BRIDGE.format(mac="52:54:00:00:00:02", br="alice-br1", tap="vnet8")
    conn.defineXML(VM_XML.format(name="alice-vm", nics=nics)).create()
    bob_nic = NIC_NET.format(mac="52:54:00:00:00:03", net="foreign-net", tap="")
    conn.defineXML(VM_XML.format(name="bob-vm", nics=bob_nic))
    on_net, on_bridge = live_taps(test_host, "alice-vm")
    sys_net = fake_sys_net(
        tmp_path / "sys-class-net",
        {"alice-br0": [on_net], "alice-br1": ["eth1"], "fvirbr0": ["vnet9"]},
        [on_net, on_bridge, "vnet9"],
    )
    return test_host, sys_net


def test_the_network_drawing_follows_guest_tap_bridge_network(lab_host: tuple[Connection, Path]) -> None:
    conn, sys_net = lab_host
    on_net, on_bridge = (f"dev/{tap}" for tap in live_taps(conn, "alice-vm"))
    graph = draw_network(conn.conn, sys_net=sys_net)
    nodes, edges = laid_out(graph)
    pairs = {(t, h) for t, h, _ in edges}
    assert ("guest/alice-vm", on_net) in pairs  # the guest's NIC is this tap
    assert (on_net, "dev/alice-br0") in pairs  # sysfs: the tap is a port of the bridge
    assert ("dev/alice-br0", "net/alice-net") in pairs  # libvirt: the network is that bridge
    assert ("dev/eth1", "dev/alice-br1") in pairs and ("dev/vnet9", "dev/fvirbr0") in pairs
    net = nodes["net/alice-net"]["label"]
    assert "10.9.8.0/24" in net and "forward nat" in net
    assert "192.168.200.0/24" in nodes["net/foreign-net"]["label"]
    edge = {(t, h): e for t, h, e in edges}
    # the second tap exists but is in no bridge: drawn red, dashed, to the bridge its XML names
    assert edge[(on_bridge, "dev/alice-br1")]["color"] == "red"
    # a guest that is shut off has no tap: dashed, straight to where its XML plugs it
    assert edge[("guest/bob-vm", "dev/fvirbr0")]["style"] == "dashed"
    assert "shut off" in nodes["guest/bob-vm"]["label"] and "running" in nodes["guest/alice-vm"]["label"]
    assert edge[("guest/alice-vm", on_net)]["label"].startswith("52:54:00:00:00:01")
    assert_svg(graph.pipe(format="svg"))


def test_the_network_drawing_keeps_one_labs_objects(lab_host: tuple[Connection, Path]) -> None:
    conn, sys_net = lab_host
    on_net = f"dev/{live_taps(conn, 'alice-vm')[0]}"
    by_prefix, _ = laid_out(draw_network(conn.conn, only="alice-", sys_net=sys_net))
    assert "guest/alice-vm" in by_prefix and "net/alice-net" in by_prefix and "dev/alice-br1" in by_prefix
    assert not {"guest/bob-vm", "net/foreign-net", "dev/fvirbr0", "dev/vnet9"} & set(by_prefix)
    # a lab that owns only its guest still shows the network the guest is on
    by_names, _ = laid_out(draw_network(conn.conn, only={"alice-vm"}, sys_net=sys_net))
    assert {"guest/alice-vm", on_net, "dev/alice-br0", "net/alice-net"} <= set(by_names)
    assert "guest/bob-vm" not in by_names
    nothing, _ = laid_out(draw_network(conn.conn, only={"carol-vm"}, sys_net=sys_net))
    assert not [name for name in nothing if name.startswith("guest/")]


def test_a_tap_sysfs_does_not_show_is_drawn_where_its_xml_says(test_host: Connection, tmp_path: Path) -> None:
    nodes, edges = laid_out(draw_network(test_host.conn, sys_net=tmp_path / "no-sysfs"))
    assert {"net/foreign-net", "dev/fvirbr0", "guest/foreign-vm"} <= set(nodes)
    assert not [t for t, _, _ in edges if t.startswith("guest/")]  # foreign-vm has no NIC
    nic = NIC_NET.format(mac="52:54:00:00:00:09", net="foreign-net", tap="vnet3")
    test_host.conn.defineXML(VM_XML.format(name="vm", nics=nic)).create()
    (tap,) = live_taps(test_host, "vm")
    nodes, edges = laid_out(draw_network(test_host.conn, sys_net=tmp_path / "no-sysfs"))
    edge = {(t, h): e for t, h, e in edges}
    assert edge[(f"dev/{tap}", "dev/fvirbr0")]["label"] == "per XML"


# -- live migration ------------------------------------------------------------------------------------


def replies_in(log: Path) -> list[dict[str, Any]]:
    """The query-migrate replies in a trace, read here without kvmlab's parser."""
    prefix = "qmp_exit_query_migrate "
    return [
        json.loads(line[len(prefix) :].rsplit(" ", 1)[0])
        for line in log.read_text().splitlines()
        if line.startswith(prefix)
    ]


def test_the_migration_plot_shows_the_traced_query_migrate_replies() -> None:
    log = DATA / "qemu-migration-trace.log"
    expected = []
    for reply in replies_in(log):
        if "ram" in reply:
            point = (reply["total-time"] / 1000, reply["ram"]["remaining"] / MIB, reply["ram"]["transferred"] / MIB)
            if not expected or expected[-1] != point:  # the final reply, asked twice, is one point
                expected.append(point)
    assert len(expected) == 3
    attempt = MigrationTrace(log).last()
    assert attempt is not None and attempt.samples == replies_in(log)
    plot = plot_migration(last_attempt(log))
    memory, dirty = plot.figure.axes
    remaining, transferred = memory.lines[:2]
    assert list(remaining.get_xdata()) == [p[0] for p in expected]
    assert list(remaining.get_ydata()) == pytest.approx([p[1] for p in expected])
    assert list(transferred.get_ydata()) == pytest.approx([p[2] for p in expected])
    assert remaining.get_ydata()[-1] == 0 and "completed" in memory.get_title()
    assert [bar.get_height() for bar in dirty.patches] == [0, 0, 0]  # an idle guest under TCG dirties nothing
    assert plot.png().startswith(PNG_MAGIC)
    assert_svg(plot.svg())


def test_the_migration_plot_shows_dirty_rate_and_rounds() -> None:
    def reply(ms: int, remaining: int, rate: int, sync: int, status: str = "active") -> dict[str, Any]:
        ram = {"remaining": remaining, "transferred": 0, "dirty-pages-rate": rate, "page-size": 4096}
        return {"status": status, "total-time": ms, "ram": {**ram, "dirty-sync-count": sync}}

    samples = [
        reply(0, 0, 0, 0, "setup") | {"ram": None},  # setup: no RAM figures yet
        reply(500, 200 * MIB, 1000, 1),
        reply(1000, 120 * MIB, 2000, 2),
        reply(1500, 60 * MIB, 500, 3),
        reply(1600, 0, 0, 4, "completed"),
    ]
    plot = plot_migration(samples)
    memory, dirty = plot.figure.axes
    assert list(memory.lines[0].get_ydata()) == [200, 120, 60, 0]
    assert [bar.get_height() for bar in dirty.patches] == pytest.approx(
        [1000 * 4096 / MIB, 2000 * 4096 / MIB, 500 * 4096 / MIB, 0]
    )
    texts = {t.get_text().strip() for t in memory.texts}
    assert {"round 2", "round 3", "round 4", "completed"} <= texts
    with pytest.raises(UsageError):
        plot_migration(samples[:1])


# -- qemu-img bench ----------------------------------------------------------------------------------------

RESULTS = {
    "count": 20000,
    "block": "4k",
    "cache": "none",
    "io": "native",
    "runs": [
        {"format": "raw", "preallocation": "off", "seconds": 0.8, "image": "/x/bench-raw-off.img"},
        {"format": "qcow2", "preallocation": "off", "seconds": 2.0, "image": "/x/bench-qcow2-off.img"},
        {"format": "qcow2", "preallocation": "full", "seconds": 0.5, "image": "/x/bench-qcow2-full.img"},
    ],
}


def test_the_bench_chart_has_one_bar_per_run(tmp_path: Path) -> None:
    results = tmp_path / "bench.json"
    results.write_text(json.dumps(RESULTS))
    plot = plot_bench(results)
    axes = plot.figure.axes[0]
    assert [bar.get_height() for bar in axes.patches] == [0.8, 2.0, 0.5]
    assert [t.get_text() for t in axes.get_xticklabels()] == ["raw\noff", "qcow2\noff", "qcow2\nfull"]
    notes = [t.get_text() for t in axes.texts]
    assert notes == ["0.8 s\n25,000 IOPS", "2 s\n10,000 IOPS", "0.5 s\n40,000 IOPS"]
    raw, qcow2_off, qcow2_full = (bar.get_facecolor() for bar in axes.patches)
    assert raw != qcow2_off == qcow2_full
    assert "20000 x 4k writes" in axes.get_title() and "cache=none" in axes.get_title()
    assert plot.save(tmp_path / "bench.png").read_bytes().startswith(PNG_MAGIC)
    assert_svg(save(plot, tmp_path / "bench.svg").read_text())
    assert isinstance(plot, Plot) and plot._repr_png_().startswith(PNG_MAGIC)


def test_the_bench_chart_refuses_results_without_figures(tmp_path: Path) -> None:
    with pytest.raises(UsageError):
        plot_bench({"count": 1, "runs": [{"format": "raw", "seconds": "fast"}]})
    with pytest.raises(UsageError, match="cannot read"):
        plot_bench(tmp_path / "missing.json")


# -- start-up time -------------------------------------------------------------------------------------------


def test_no_drawing_library_is_loaded_until_a_picture_is_drawn() -> None:
    code = (
        "import sys, kvmlab.cli, kvmlab.notebook, kvmlab.pictures.chain, kvmlab.pictures.network, "
        "kvmlab.pictures.migration, kvmlab.pictures.bench\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('graphviz', 'matplotlib')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
