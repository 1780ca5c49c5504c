"""Checks of the dumpxml lab (seed questions 10-12): what the persistent XML of each object says."""

from __future__ import annotations

from collections.abc import Iterator

from kvmlab.grading import Check, check
from kvmlab.host import Host
from kvmlab.labs.dumpxml import DumpXmlParams


def _mib(kib: int | None) -> str:
    return "none" if kib is None else f"{kib / 1024:g} MiB"


def checks(host: Host, p: DumpXmlParams) -> Iterator[Check]:
    yield from _domain(host, p)
    yield from _network(host, p)
    yield from _pool(host, p)


def _domain(host: Host, p: DumpXmlParams) -> Iterator[Check]:
    # The persistent definition is what `virsh define` changes; for a running
    # guest `virsh dumpxml` shows the live one, `--inactive` this one.
    config = host.domain(p.domain).config
    missing = f"no persistent domain {p.domain}"
    want_kib = p.memory_mib * 1024
    yield check(
        "domain-memory",
        f"{p.domain}'s maximum memory (<memory>) is {p.memory_mib} MiB",
        config is not None and config.memory_kib == want_kib,
        expected=_mib(want_kib),
        actual=_mib(config.memory_kib) if config else missing,
        hint=f"edit <memory> in {p.domain_xml}, then virsh define {p.domain_xml} (or virsh edit {p.domain})",
    )
    yield check(
        "domain-current-memory",
        f"{p.domain} boots with {p.memory_mib} MiB (<currentMemory>)",
        config is not None and config.current_memory_kib == want_kib,
        expected=_mib(want_kib),
        actual=_mib(config.current_memory_kib) if config else missing,
        hint="<memory> is only the ceiling; the guest starts with <currentMemory> "
        "(the balloon holds back the rest): set both",
    )
    current, ceiling = (config.vcpu_current, config.vcpu_max) if config else (None, None)
    yield check(
        "domain-vcpus",
        f"{p.domain} boots with {p.vcpus} vCPUs",
        current == p.vcpus,
        expected=f"<vcpu current='{p.vcpus}'>{p.vcpus}</vcpu> (or a higher maximum)",
        actual=f"{current} of at most {ceiling}" if config else missing,
        hint="<vcpu>N</vcpu> is the maximum; the current='M' attribute, when present, is what the guest boots with",
    )
    desc = config.description if config else None
    yield check(
        "domain-description",
        f"{p.domain} has the description {p.description!r}",
        desc == p.description,
        expected=p.description,
        actual=desc if desc is not None else (missing if config is None else "no <description>"),
        hint=f"add <description>{p.description}</description> under <domain> "
        f"(or: virsh desc {p.domain} --config '{p.description}')",
    )


def _network(host: Host, p: DumpXmlParams) -> Iterator[Check]:
    net = host.network(p.network)
    config = net.config if net.is_persistent else None
    ranges = [(r.start, r.end) for r in config.dhcp_ranges()] if config else []
    shown = ", ".join(f"{s}-{e}" for s, e in ranges) or "no DHCP range"
    yield check(
        "network-dhcp-range",
        f"{p.network}'s definition hands out {p.dhcp_start}-{p.dhcp_end}",
        ranges == [(p.dhcp_start, p.dhcp_end)],
        expected=f"{p.dhcp_start}-{p.dhcp_end}",
        actual=shown if config else f"no defined network {p.network}",
        hint=f"edit <range> in {p.network_xml}, then virsh net-define {p.network_xml}: "
        "editing the file alone changes nothing",
    )


def _pool(host: Host, p: DumpXmlParams) -> Iterator[Check]:
    pool = host.pool(p.pool)
    config = pool.config
    kind, target = (config.type, config.target_path) if config else (None, None)
    yield check(
        "pool-defined",
        f"{p.pool} is a dir pool in {p.pool_path}",
        kind == "dir" and target == p.pool_path,
        expected=f"type dir, target {p.pool_path}",
        actual=f"type {kind}, target {target}" if config else f"no pool {p.pool}",
        hint=f"virsh pool-define-as {p.pool} dir --target {p.pool_path}",
    )
    yield check(
        "pool-persistent",
        f"{p.pool} is defined, not only created (it survives a libvirtd restart)",
        pool.is_persistent,
        expected="persistent",
        actual="persistent" if pool.is_persistent else ("transient" if pool.exists else "missing"),
        hint="pool-create/pool-create-as make a transient pool: use pool-define (or pool-define-as), then pool-start",
    )
    yield check(
        "pool-active",
        f"{p.pool} is running",
        pool.is_active,
        expected="active",
        actual="active" if pool.is_active else ("inactive" if pool.exists else "missing"),
        hint=f"virsh pool-build {p.pool} (makes the directory), then virsh pool-start {p.pool}",
    )
    vol = pool.volume(p.volume)
    names = ", ".join(pool.volume_names()) or "no volumes"
    fmt = vol.format if vol else None
    yield check(
        "volume-format",
        f"{p.pool} holds the {p.volume_format} volume {p.volume}",
        fmt == p.volume_format,
        expected=f"{p.volume} ({p.volume_format})",
        actual=f"{p.volume} ({fmt})" if vol else (names if pool.is_active else "pool not running"),
        hint=f"virsh vol-create-as {p.pool} {p.volume} {p.volume_size_gib}G --format {p.volume_format} "
        "(without --format a dir pool makes raw)",
    )
    size = vol.capacity if vol else None
    yield check(
        "volume-size",
        f"{p.volume} has a capacity of {p.volume_size_gib} GiB",
        size == p.volume_bytes,
        expected=f"{p.volume_bytes} bytes",
        actual=f"{size} bytes" if vol else "no volume",
        hint=f"virsh vol-list {p.pool} --details shows capacities; virsh vol-resize changes one",
    )
