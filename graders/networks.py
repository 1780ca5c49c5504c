"""Checks of the networks lab (seed question 6): four isolated networks, and libvirt's default left alone."""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterator
from pathlib import Path

from kvmlab.grading import Check, check
from kvmlab.host import Host
from kvmlab.labs.networks import Clash, NetSpec, NetworksParams, clashes, network_state, subnet_of
from kvmlab.xmlviews import NetworkXML


def _listing(problems: list[str]) -> str:
    return "; ".join(problems) or "all as asked"


def checks(host: Host, p: NetworksParams) -> Iterator[Check]:
    nets = {n.name: host.network(n.name) for n in p.nets}
    configs: dict[str, NetworkXML | None] = {
        name: net.config if net.is_persistent else None for name, net in nets.items()
    }

    missing = [
        f"{n.name} {'is transient' if nets[n.name].exists else 'missing'}" for n in p.nets if not configs[n.name]
    ]
    yield check(
        "networks-defined",
        f"the networks {', '.join(n.name for n in p.nets)} are defined",
        not missing,
        expected=f"{len(p.nets)} persistent networks",
        actual=_listing(missing),
        hint="virsh net-define FILE for each (net-create makes a transient network that is gone after net-destroy)",
    )

    defined = [(n, config) for n in p.nets if (config := configs[n.name]) is not None]

    def wrong(n: NetSpec, what: str, have: object, asked: object) -> str:
        return f"{n.name}: {what} {have} (asked {asked})"

    bad_subnets = []
    for n, config in defined:
        subnet = subnet_of(config)
        if config.ip_address != n.gateway or subnet != n.network:
            have = f"{config.ip_address}/{subnet.prefixlen if subnet else '?'}"
            bad_subnets.append(wrong(n, "ip", have, f"{n.gateway}/{n.network.prefixlen}"))
    yield check(
        "subnets",
        "each network's bridge address is .1 of its subnet",
        not missing and not bad_subnets,
        expected=", ".join(f"{n.gateway}/{n.network.prefixlen}" for n in p.nets),
        actual=_listing(bad_subnets) if not missing else "not all defined",
        hint="<ip address='192.168.X.1' netmask='255.255.255.0'> (or prefix='24'): "
        "a wrong netmask makes the network cover other subnets",
    )

    bad_ranges = []
    for n, config in defined:
        ranges = [(r.start, r.end) for r in config.dhcp_ranges()]
        if ranges != [(n.dhcp_start, n.dhcp_end)]:
            shown = ", ".join(f"{s}-{e}" for s, e in ranges) or "none"
            bad_ranges.append(wrong(n, "range", shown, f"{n.dhcp_start}-{n.dhcp_end}"))
    yield check(
        "dhcp-ranges",
        "each network hands out its asked DHCP range",
        not missing and not bad_ranges,
        expected=", ".join(f"{n.dhcp_start}-{n.dhcp_end}" for n in p.nets),
        actual=_listing(bad_ranges) if not missing else "not all defined",
        hint="<ip ...><dhcp><range start='...' end='...'/></dhcp></ip>; the range must not include the "
        "bridge's own address (.1), which dnsmasq would then hand to a guest",
    )

    bad_bridges = [wrong(n, "bridge", config.bridge, n.bridge) for n, config in defined if config.bridge != n.bridge]
    yield check(
        "bridges",
        "each network has its own named bridge",
        not missing and not bad_bridges,
        expected=", ".join(f"{n.name}: {n.bridge}" for n in p.nets),
        actual=_listing(bad_bridges) if not missing else "not all defined",
        hint="<bridge name='...'/>; without it libvirt picks the next free virbrN",
    )

    forwarding = []
    for n in p.nets:
        for view in (configs[n.name], nets[n.name].live):
            if view is not None and view.has_forward:
                forwarding.append(f"{n.name}: <forward mode='{view.forward_mode or 'nat'}'>")
                break
    yield check(
        "isolated",
        "no network forwards anywhere (no <forward> element)",
        not forwarding,
        expected="no <forward> in any of them",
        actual=_listing(forwarding),
        hint="an isolated network has no <forward>: guests reach each other and the host, nothing else; "
        "remove the element and net-define again",
    )

    taken = clashes(host, p)
    held = {c.net.name for c in taken}
    to_run = [n for n in p.nets if n.name not in held]
    stopped = []
    for n in to_run:
        live = nets[n.name].live  # the bridge libvirt really made (its name is the "bridges" check's business)
        if live is None:
            stopped.append(f"{n.name} is not running")
        elif not (live.bridge and host.bridge(live.bridge).exists):
            stopped.append(f"{n.name} has no bridge {live.bridge} on the host")
    yield check(
        "active",
        "your networks on free subnets are running, each with its bridge on the host",
        not stopped,
        expected="running: " + (", ".join(n.name for n in to_run) or "none (every subnet is held by another network)"),
        actual=_listing(stopped),
        hint="virsh net-start NAME (then `ip -br addr show dev BRIDGE` shows the .1 address)",
    )

    yield _no_overlap(host, p)
    yield _clash_handled(host, p, taken)
    yield _default_untouched(host, p)


def _no_overlap(host: Host, p: NetworksParams) -> Check:
    active: dict[str, ipaddress.IPv4Network] = {}
    for name in host.network_names():
        subnet = subnet_of(host.network(name).live)
        if subnet is not None:
            active[name] = subnet
    ours = {n.name for n in p.nets}
    pairs = sorted(
        {
            " and ".join(sorted((a, b))) + f" ({active[a]} / {active[b]})"
            for a in ours & active.keys()
            for b in active
            if a != b and active[a].overlaps(active[b])
        }
    )
    return check(
        "no-overlap",
        "no two running networks share addresses",
        not pairs,
        expected="disjoint subnets",
        actual="; ".join(pairs) or "disjoint",
        hint="two bridges on overlapping subnets give the host two routes for the same addresses: "
        "libvirt refuses an identical subnet but not a wider netmask; fix the netmask",
    )


def _clash_handled(host: Host, p: NetworksParams, taken: list[Clash]) -> Check:
    bad = []
    for name in sorted({c.net.name for c in taken}):
        net = host.network(name)
        if net.is_active:
            bad.append(f"{name} is running")
        if net.is_autostart:
            bad.append(f"{name} is autostarted")
    return check(
        "clash-handled",
        "a subnet another network holds (libvirt's default, or one running) is left to it: yours stays stopped",
        not bad,
        expected="; ".join(f"{c.net.name} defined, not running, no autostart ({c})" for c in taken)
        or "no clash on this host",
        actual=_listing(bad),
        hint=f"only one running network can own a subnet: `virsh net-dumpxml {p.default_network}` shows "
        f"what libvirt's default claims; virsh net-destroy / net-autostart --disable your own network, "
        f"never touch {p.default_network}",
    )


def _default_untouched(host: Host, p: NetworksParams) -> Check:
    snap = Path(p.default_snapshot)
    before = json.loads(snap.read_text()) if snap.exists() else None
    now = network_state(host.network(p.default_network))
    changed = sorted(k for k in now if before is not None and before.get(k) != now[k])
    return check(
        "default-untouched",
        f"libvirt's {p.default_network} network is exactly as it was before the lab",
        before is not None and not changed,
        expected="unchanged definition, state and autostart",
        actual=("changed: " + ", ".join(changed) if changed else "unchanged") if before else "lab not started",
        hint=f"{p.default_network} is not yours: put it back as it was (virsh net-define the saved XML, "
        "net-start or net-destroy, net-autostart) and leave it alone",
    )
