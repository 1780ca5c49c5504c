"""What a lab's guest is right now, three ways: the running guest, its persistent definition, the guest's own view.

The hot-add labs are about these three disagreeing for a moment: a disk
attached with ``--live`` is in the live definition at once, in the guest a
little later, and in the persistent definition only with ``--config``. The
live guest panel (notebooks) and ``kvmlab lab status --watch`` (terminals)
both show this snapshot.
"""

from __future__ import annotations

import contextlib
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

import libvirt

from kvmlab.errors import KvmlabError
from kvmlab.resources.domain import Domain
from kvmlab.xmlviews import InterfaceXML


@dataclass
class Device:
    """A disk (by target) or NIC (by MAC): where it is, and what the guest calls it."""

    name: str
    live: bool
    config: bool
    detail: str = ""  # the image of a disk, the source of a NIC
    in_guest: str | None = None  # the guest kernel's name for it (vdb, eth1); None: not seen (or not asked)
    pci: str = ""  # its PCI address in the running guest (0000:07:00.0): how the guest's disk is found

    @property
    def differs(self) -> bool:
        """Only in one of the two definitions: gone at the next boot, or not there yet."""
        return self.live != self.config


@dataclass
class GuestView:
    name: str
    state: str  # running, paused, shut off... with the reason: "paused (user)"
    accel: str = ""  # kvm or qemu (TCG), from the domain type
    vcpus_live: int | None = None
    vcpus_config: int | None = None
    vcpus_max: int | None = None
    vcpus_online: int | None = None  # online in the guest
    memory_max_kib: int | None = None
    memory_current_kib: int | None = None
    balloon_actual_kib: int | None = None
    guest_memtotal_kib: int | None = None  # what the guest kernel sees
    disks: list[Device] = field(default_factory=list)
    nics: list[Device] = field(default_factory=list)
    agent: bool = False  # the guest agent answered: the guest-side columns are real

    @property
    def running(self) -> bool:
        return self.state.startswith(("running", "paused"))


def view(conn: libvirt.virConnect, name: str, ask_guest: bool = True) -> GuestView:
    """One guest, now. ``ask_guest``: also ask the guest agent what the guest kernel sees."""
    d = Domain(conn, name)
    dom = d.handle
    if dom is None:
        return GuestView(name, "absent")
    out = GuestView(name, d.state_with_reason)
    live, config = d.live, d.config
    main = live or config
    if main is not None:
        out.accel = "KVM" if main.domain_type == "kvm" else "TCG (no KVM)" if main.domain_type == "qemu" else ""
        out.memory_max_kib = main.memory_kib
    if config is not None:
        out.vcpus_config = config.vcpu_current
        out.vcpus_max = config.vcpu_max
    if live is not None:
        out.vcpus_live = live.vcpu_current
        out.vcpus_max = live.vcpu_max
        out.memory_current_kib = live.current_memory_kib
        out.balloon_actual_kib = d.memory_stats().get("actual")
    out.disks = _merge(
        {x.target or "?": x.source or "" for x in live.disks()} if live else {},
        {x.target or "?": x.source or "" for x in config.disks()} if config else {},
    )
    addresses = {x.target: _pci(x.node.find("address")) for x in live.disks()} if live else {}
    for disk in out.disks:
        disk.pci = addresses.get(disk.name) or ""
    out.nics = _merge(
        {(x.mac or "?").lower(): _nic_source(x) for x in live.interfaces()} if live else {},
        {(x.mac or "?").lower(): _nic_source(x) for x in config.interfaces()} if config else {},
    )
    if ask_guest and live is not None and dom.state()[0] == libvirt.VIR_DOMAIN_RUNNING:
        _ask_guest(d, out)
    return out


_PCI = re.compile(r"[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-9a-f]")


def _pci(address: ET.Element | None) -> str:
    if address is None or address.get("type") != "pci":
        return ""
    try:
        parts = [int(address.get(k, "0"), 0) for k in ("domain", "bus", "slot", "function")]
    except ValueError:
        return ""
    return "{:04x}:{:02x}:{:02x}.{:x}".format(*parts)


def _nic_source(nic: InterfaceXML) -> str:
    where = nic.source_network or nic.source_bridge or nic.source_dev or ""
    return f"{nic.type or '?'} {where}".strip() + (f", {nic.model}" if nic.model else "")


def _merge(live: dict[str, str], config: dict[str, str]) -> list[Device]:
    return [Device(k, k in live, k in config, live.get(k) or config.get(k, "")) for k in sorted({*live, *config})]


def _ask_guest(d: Domain, out: GuestView) -> None:
    agent = d.guest
    if agent is None:
        return
    # The agent may not be up yet (a guest still booting) or may have gone: the host's columns still stand.
    with contextlib.suppress(KvmlabError, libvirt.libvirtError, OSError, ValueError, KeyError):
        if not agent.ping(timeout=1):
            return
        out.agent = True
        out.vcpus_online = agent.online_cpus()
        out.guest_memtotal_kib = agent.meminfo_kib().get("MemTotal")
        # The guest names its disks in the order it finds them: a disk libvirt calls vdc may be the
        # guest's vdb. The PCI address is what both sides agree on.
        listing = agent.run(["/bin/sh", "-c", "for d in /sys/block/*; do echo ${d##*/} $(readlink -f $d); done"])
        by_pci = {}
        for line in listing.stdout.splitlines():
            name, _, path = line.partition(" ")
            found = _PCI.findall(path)
            if found:
                by_pci[found[-1]] = name
        for disk in out.disks:
            disk.in_guest = by_pci.get(disk.pci) if disk.pci else None
        macs = agent.nics()
        for nic in out.nics:
            nic.in_guest = macs.get(nic.name)


def lab_guests(conn: libvirt.virConnect, owned: list[tuple[str, str]]) -> list[str]:
    """The names of a lab's guests from its owned objects ((kind, name) pairs), in order."""
    names = [name for kind, name in owned if kind == "domain"]
    existing = []
    for name in names:
        with contextlib.suppress(libvirt.libvirtError):
            conn.lookupByName(name)
            existing.append(name)
    return existing


# -- in words (the notebook panel and `lab status --watch` say the same) --------------------

NO_AGENT = "no guest agent answer yet: the guest's own view is not shown"
_ZH = {
    "vCPUs": "vCPU",
    "memory": "内存",
    "disks": "磁盘",
    "NICs": "网卡",
    "live": "运行时",
    "persistent": "持久化",
    "in guest": "虚拟机内",
    "online in guest": "虚拟机内在线",
    "maximum": "最大",
    "current": "当前",
    "balloon": "气球",
    "guest sees": "虚拟机看到",
    "only live: gone after a restart": "只在运行时配置中：重启后消失",
    "only persistent: comes at the next boot": "只在持久化配置中：下次启动才有",
    NO_AGENT: "客户机代理还没应答：暂时看不到虚拟机内部的视角",
    "updated": "更新于",
    "stopped": "已停止刷新",
}


def words(text: str, lang: str) -> str:
    return _ZH.get(text, text) if lang == "zh" else text


def _n(value: int | None) -> str:
    return "–" if value is None else str(value)


def _mib(kib: int | None) -> str:
    return "–" if kib is None else f"{kib / 1024:.0f} MiB"


def summary(g: GuestView, lang: str) -> list[tuple[str, str]]:
    """The vCPU and memory lines: (label, what it says)."""
    w = lambda text: words(text, lang)  # noqa: E731 - a short alias keeps the lines readable
    return [
        (
            w("vCPUs"),
            f"{w('live')} {_n(g.vcpus_live)} · {w('persistent')} {_n(g.vcpus_config)} · "
            f"{w('maximum')} {_n(g.vcpus_max)} · {w('online in guest')} {_n(g.vcpus_online)}",
        ),
        (
            w("memory"),
            f"{w('maximum')} {_mib(g.memory_max_kib)} · {w('current')} {_mib(g.memory_current_kib)} · "
            f"{w('balloon')} {_mib(g.balloon_actual_kib)} · {w('guest sees')} {_mib(g.guest_memtotal_kib)}",
        ),
    ]


def difference(d: Device, lang: str) -> str:
    """Why a device is marked: in one definition only ("" when both agree)."""
    if not d.differs:
        return ""
    return words("only live: gone after a restart" if d.live else "only persistent: comes at the next boot", lang)


def present(flag: bool) -> str:
    return "✔" if flag else "·"


def in_guest(d: Device, agent: bool) -> str:
    """The guest's name for it; · not seen; ? the guest could not be asked."""
    return (d.in_guest or "·") if agent else "?"
