from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import cast

from kvmlab.labs.networks import NetSpec, NetworksParams, network_xml
from kvmlab.toolkit import Toolkit
from kvmlab.xmlviews import parse
from tests.integration.wrong import Wrong

LAB = "networks"

# The mistakes are made on the networks standing for 144 and 155 (the trainee's own
# subnets in a class): another lab may hold 133 while these tests run.
Tweak = Callable[[ET.Element, NetSpec], None]


def _networks(
    tweaks: dict[str, Tweak] | None = None,
    never_start: frozenset[str] = frozenset(),
    then: Callable[[Toolkit, NetworksParams], None] | None = None,
) -> Callable[[Toolkit], None]:
    """The reference solution, with some networks' XML edited the wrong way before net-define."""

    def apply(s: Toolkit) -> None:
        p = cast(NetworksParams, s.params)
        for n in p.nets:
            root = parse(network_xml(n))
            tweak = (tweaks or {}).get(n.tag)
            if tweak:
                tweak(root, n)
            Path(n.xml).write_text(ET.tostring(root, encoding="unicode"))
            s.virsh("net-define", n.xml)
        taken = {c.network for c in s.host.subnets().clashes(p.wanted, p.default_network)}
        for n in p.nets:
            if n.name not in taken and n.tag not in never_start:
                s.virsh("net-start", n.name)
        if then:
            then(s, p)

    return apply


def _nat(root: ET.Element, n: NetSpec) -> None:
    root.insert(1, ET.Element("forward", mode="nat"))


def _range_from_gateway(root: ET.Element, n: NetSpec) -> None:
    rng = root.find("ip/dhcp/range")
    assert rng is not None
    rng.set("start", n.gateway)


def _netmask_16(root: ET.Element, n: NetSpec) -> None:
    ip = root.find("ip")
    assert ip is not None
    ip.set("netmask", "255.255.0.0")


def _no_bridge_name(root: ET.Element, n: NetSpec) -> None:
    bridge = root.find("bridge")
    assert bridge is not None
    root.remove(bridge)


def _autostart_122(s: Toolkit, p: NetworksParams) -> None:
    s.virsh("net-autostart", p.net("122").name)


WRONG = [
    # A forwarding network is only ever defined here, never started.
    Wrong("nat-forward", _networks({"144": _nat}, never_start=frozenset({"144"})), frozenset({"isolated", "active"})),
    Wrong("dhcp-range-covers-gateway", _networks({"155": _range_from_gateway}), frozenset({"dhcp-ranges"})),
    Wrong("netmask-16-overlaps", _networks({"155": _netmask_16}), frozenset({"subnets", "no-overlap"})),
    Wrong("bridge-left-to-libvirt", _networks({"144": _no_bridge_name}), frozenset({"bridges"})),
    Wrong("autostart-on-defaults-subnet", _networks(then=_autostart_122), frozenset({"clash-handled"})),
]
