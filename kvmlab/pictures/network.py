"""Guests, their tap devices, host bridges and libvirt networks, drawn from the live host.

What it reads: libvirt's networks (name, bridge, forward mode, subnets) and
its guests' interfaces (live XML for a running guest: the tap libvirt made,
``vnetN``; the definition otherwise), and from sysfs which interface is a
port of which bridge (``/sys/class/net/BR/brif``, what ``bridge link``
shows) and which is a tap (``tun_flags``). A guest NIC is drawn guest ->
tap -> bridge when sysfs shows it so; dashed when only the XML says where it
would go (a guest that is not running, a tap that is not in its bridge).

``only`` keeps the objects whose name contains it (a trainee's or lab's
prefix) and what they are plugged into.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import libvirt

from kvmlab.resources.bridge import SYS_NET
from kvmlab.xmlviews import DomainXML, NetworkXML

if TYPE_CHECKING:
    import graphviz


@dataclass(frozen=True)
class NetInfo:
    name: str
    bridge: str | None
    forward: str | None  # nat, route, bridge, hostdev...; None: isolated
    subnets: tuple[str, ...]  # 192.168.122.0/24, and IPv6 ones
    active: bool


@dataclass(frozen=True)
class Nic:
    type: str  # network, bridge, direct, user...
    mac: str | None
    model: str | None
    source: str | None  # the network, bridge or host device it names
    tap: str | None  # target dev (live XML of a running guest)


@dataclass(frozen=True)
class GuestInfo:
    name: str
    running: bool
    nics: tuple[Nic, ...]


@dataclass
class Topology:
    networks: list[NetInfo] = field(default_factory=list)
    guests: list[GuestInfo] = field(default_factory=list)
    bridges: dict[str, list[str]] = field(default_factory=dict)  # bridge -> its ports, as sysfs lists them
    taps: set[str] = field(default_factory=set)  # the tun/tap devices among the host's interfaces

    def bridge_of(self, port: str) -> str | None:
        return next((br for br, ports in self.bridges.items() if port in ports), None)

    def network(self, name: str | None) -> NetInfo | None:
        return next((n for n in self.networks if n.name == name), None)


def subnets(xml: NetworkXML) -> tuple[str, ...]:
    found = []
    for ip in xml.node.findall("ip"):
        address, prefix = ip.get("address"), ip.get("prefix") or ip.get("netmask")
        if address and prefix:
            try:
                found.append(str(ipaddress.ip_interface(f"{address}/{prefix}").network))
            except ValueError:
                found.append(f"{address}/{prefix}")
    return tuple(found)


def net_info(xml: NetworkXML, active: bool) -> NetInfo:
    forward = xml.forward_mode or ("nat" if xml.has_forward else None)
    return NetInfo(str(xml.name), xml.bridge, forward, subnets(xml), active)


def guest_info(xml: DomainXML, running: bool) -> GuestInfo:
    nics = tuple(
        Nic(
            type=str(i.type),
            mac=i.mac,
            model=i.model,
            source=i.source_network or i.source_bridge or i.source_dev,
            tap=i.target_dev if running else None,
        )
        for i in xml.interfaces()
    )
    return GuestInfo(str(xml.name), running, nics)


def host_links(sys_net: Path = SYS_NET) -> tuple[dict[str, list[str]], set[str]]:
    """(bridge -> ports, taps) from sysfs."""
    bridges: dict[str, list[str]] = {}
    taps: set[str] = set()
    if not sys_net.is_dir():
        return bridges, taps
    for dev in sorted(sys_net.iterdir()):
        if (dev / "bridge").is_dir():
            brif = dev / "brif"
            bridges[dev.name] = sorted(p.name for p in brif.iterdir()) if brif.is_dir() else []
        if (dev / "tun_flags").exists():
            taps.add(dev.name)
    return bridges, taps


def gather(conn: libvirt.virConnect, sys_net: Path = SYS_NET) -> Topology:
    """Everything libvirt and sysfs say now."""
    networks, guests = [], []
    for net in conn.listAllNetworks(0):
        try:
            networks.append(net_info(NetworkXML.from_xml(net.XMLDesc(0)), net.isActive() == 1))
        except libvirt.libvirtError:  # gone since it was listed
            continue
    for dom in conn.listAllDomains(0):
        try:
            guests.append(guest_info(DomainXML.from_xml(dom.XMLDesc(0)), dom.isActive() == 1))
        except libvirt.libvirtError:
            continue
    bridges, taps = host_links(sys_net)
    return Topology(sorted(networks, key=lambda n: n.name), sorted(guests, key=lambda g: g.name), bridges, taps)


def only_matching(topo: Topology, only: str | Collection[str]) -> Topology:
    """The objects ``only`` names (a text: names that contain it; a collection: these names), and what their guests
    are plugged into."""

    def named(name: str) -> bool:
        return only in name if isinstance(only, str) else name in only

    guests = [g for g in topo.guests if named(g.name)]
    used_nets = {n.source for g in guests for n in g.nics if n.type == "network"}
    networks = [n for n in topo.networks if named(n.name) or n.name in used_nets]
    taps = {n.tap for g in guests for n in g.nics if n.tap}
    plugged = {n.source for g in guests for n in g.nics if n.type in ("bridge", "direct") and n.source}
    keep = {n.bridge for n in networks if n.bridge} | plugged
    keep |= {br for br, ports in topo.bridges.items() if named(br) or taps & set(ports)}
    bridges = {
        br: [p for p in ports if p in taps or p not in topo.taps]  # other guests' taps are someone else's
        for br, ports in topo.bridges.items()
        if br in keep
    }
    return Topology(networks, guests, bridges, {t for t in topo.taps if t in taps})


def node_id(kind: str, name: str) -> str:
    """A node's name in the DOT source: guest/NAME, dev/NAME, net/NAME (no colon: in an edge it names a port)."""
    return f"{kind}/{name}".replace(":", "%3A")


def _lines(*lines: str | None) -> str:
    import graphviz

    return "\n".join(graphviz.escape(line) for line in lines if line)


def network_graph(topo: Topology) -> graphviz.Digraph:
    """Guests on the left, then their taps, the bridges, and the libvirt networks those bridges belong to."""
    import graphviz

    graph = graphviz.Digraph("network", graph_attr={"rankdir": "LR", "nodesep": "0.25", "ranksep": "0.6"})
    graph.attr("node", fontname="Helvetica", fontsize="11")
    graph.attr("edge", fontname="Helvetica", fontsize="9", color="#555555")
    drawn: set[str] = set()

    def device(name: str, kind: str) -> str:
        node = node_id("dev", name)
        if node not in drawn:
            drawn.add(node)
            if kind == "bridge":
                graph.node(node, _lines(name, "bridge"), shape="box", style="filled", fillcolor="#cfe8cf")
            elif kind == "tap":
                graph.node(node, _lines(name, "tap"), shape="ellipse", style="filled", fillcolor="#f3f3f3")
            else:
                graph.node(node, _lines(name, kind), shape="ellipse", style="dashed")
        return node

    for br, ports in topo.bridges.items():
        device(br, "bridge")
        for port in ports:
            graph.edge(device(port, "tap" if port in topo.taps else "port"), node_id("dev", br), dir="none")
    for net in topo.networks:
        node = node_id("net", net.name)
        state = f"forward {net.forward}" if net.forward else "isolated (no forward)"
        label = _lines(f"network {net.name}", *net.subnets, state, None if net.active else "inactive")
        graph.node(node, label, shape="component", style="filled", fillcolor="#fff2cc" if net.active else "#eeeeee")
        if net.bridge:
            graph.edge(device(net.bridge, "bridge"), node, label="is", dir="none", style="dotted")
    for guest in topo.guests:
        gnode = node_id("guest", guest.name)
        graph.node(
            gnode,
            _lines(guest.name, "running" if guest.running else "shut off"),
            shape="box3d",
            style="filled",
            fillcolor="#d7ecff" if guest.running else "#eeeeee",
        )
        for nic in guest.nics:
            nic_label = _lines(nic.mac, nic.model)
            wanted = _wanted(topo, nic)  # where the XML says this NIC goes
            target = None
            if wanted:
                kind, name = wanted
                target = node_id("net", name) if kind == "network" else device(name, kind)
            if nic.tap:
                tap = device(nic.tap, "tap")
                graph.edge(gnode, tap, label=nic_label)
                if topo.bridge_of(nic.tap) is None and target:
                    if nic.tap in topo.taps:  # the tap is there, in no bridge: the guest's frames go nowhere
                        graph.edge(tap, target, label="not in the bridge", style="dashed", color="red", dir="none")
                    else:
                        graph.edge(tap, target, label="per XML", style="dashed", dir="none")
            elif target:
                graph.edge(gnode, target, label=nic_label, style="dashed")
    return graph


def _wanted(topo: Topology, nic: Nic) -> tuple[str, str] | None:
    """(kind, name) a NIC is plugged into per its XML: its network's bridge (the network when it has none
    running), its bridge, its host device (macvtap)."""
    if nic.type == "network" and nic.source:
        net = topo.network(nic.source)
        if net is None:
            return None
        return ("bridge", net.bridge) if net.bridge and net.active else ("network", net.name)
    if nic.type == "bridge" and nic.source:
        return "bridge", nic.source
    if nic.type == "direct" and nic.source:
        return "macvtap on", nic.source
    if nic.type == "user":
        return "user networking", "slirp"
    return None


def draw_network(
    conn: libvirt.virConnect, only: str | Collection[str] | None = None, sys_net: Path = SYS_NET
) -> graphviz.Digraph:
    """The host's libvirt networks, bridges, taps and guests now; ``only``: see only_matching (None: everything)."""
    topo = gather(conn, sys_net)
    return network_graph(topo if only is None else only_matching(topo, only))
