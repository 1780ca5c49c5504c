"""Checks of the break-fix lab (troubleshooting).

Every fault has two checks in common, ``guest-running`` and ``data-intact``,
and checks of its own that ask for the cause to be fixed, not worked around.
The ids depend only on the fault, so a class's results line up per fault.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

import libvirt

from kvmlab.grading import Check, check
from kvmlab.host import Host
from kvmlab.labs.break_fix import BreakFixParams, marks_intact
from kvmlab.resources.agent import poll
from kvmlab.resources.domain import Domain
from kvmlab.xmlviews import CapabilitiesXML, DiskXML, DomainXML

AGENT_WAIT = 15.0  # a guest started a moment ago is still booting

_REASONS = {
    (libvirt.VIR_DOMAIN_PAUSED, libvirt.VIR_DOMAIN_PAUSED_IOERROR): "paused (I/O error)",
    (libvirt.VIR_DOMAIN_PAUSED, libvirt.VIR_DOMAIN_PAUSED_USER): "paused (by a user)",
    (libvirt.VIR_DOMAIN_SHUTOFF, libvirt.VIR_DOMAIN_SHUTOFF_FAILED): "shut off (failed to start)",
    (libvirt.VIR_DOMAIN_SHUTOFF, libvirt.VIR_DOMAIN_SHUTOFF_DESTROYED): "shut off (destroyed)",
    (libvirt.VIR_DOMAIN_SHUTOFF, libvirt.VIR_DOMAIN_SHUTOFF_CRASHED): "shut off (crashed)",
}


def _state(vm: Domain) -> str:
    dom = vm.handle
    if dom is None:
        return "not defined"
    state, reason = dom.state()
    return _REASONS.get((state, reason), vm.state)


def checks(host: Host, p: BreakFixParams) -> Iterator[Check]:
    vm = host.domain(p.domain)
    yield _guest_running(vm, p)
    yield _data_intact(vm, p)
    yield from FAULT_CHECKS[p.fault](host, vm, p)


def _guest_running(vm: Domain, p: BreakFixParams) -> Check:
    state = _state(vm)
    running = state == "running"
    guest = vm.guest
    answers = running and guest is not None and poll(guest.ping, bool, seconds=AGENT_WAIT)
    hint = (
        f"virsh domblkerror {p.domain} says which disk failed and why; fix that, then virsh resume {p.domain}"
        if state.startswith("paused")
        else f"virsh start {p.domain}: if it refuses, its error text and the end of {p.log} say why"
    )
    return check(
        "guest-running",
        f"{p.domain} runs again (running, not paused, and its agent answers)",
        answers,
        expected="running, agent answers",
        actual=state if not running else ("running, agent answers" if answers else "running, agent silent"),
        hint=hint,
    )


def _data_intact(vm: Domain, p: BreakFixParams) -> Check:
    config = vm.config
    vda = config.disk("vda") if config else None
    source = vda.source if vda else None
    if source != p.image:
        ok, said = False, f"vda is {source or 'missing'}"
    else:
        ok, said = marks_intact(p.image, p.mark)
    return check(
        "data-intact",
        f"the guest still boots from {Path(p.image).name}, with the data it had before the fault",
        ok,
        expected=f"vda -> {p.image}, its data readable through the backing chain",
        actual=said,
        hint="fix the disk the guest has, do not replace it: a fresh disk (or a new overlay) boots, "
        "but a server's data would be gone",
    )


# -- per fault -----------------------------------------------------------------------


def _backing(host: Host, vm: Domain, p: BreakFixParams) -> Iterator[Check]:
    info = host.image(p.image).info()
    backing = info.backing_file if info else None
    yield check(
        "backing-file",
        f"the overlay still names its backing file {p.base} (not rebased elsewhere)",
        backing == p.base,
        expected=p.base,
        actual=backing or ("no backing file" if info else "overlay unreadable"),
        hint="put the base back where the overlay points; `qemu-img rebase -u` onto the archive copy "
        "hides the move until the next tidy-up",
    )
    try:
        st = os.lstat(p.base)
        kind = "symlink" if stat.S_ISLNK(st.st_mode) else "file" if stat.S_ISREG(st.st_mode) else "other"
    except FileNotFoundError:
        kind = "missing"
    yield check(
        "base-in-place",
        f"{p.base} is the base image itself, a regular file",
        kind == "file",
        expected="regular file",
        actual=kind,
        hint=f"find it (find / -name {Path(p.base).name}), then mv it back: a symlink into an archive directory "
        "breaks again when that directory is cleaned",
    )


def _permissions(host: Host, vm: Domain, p: BreakFixParams) -> Iterator[Check]:
    try:
        mode: int | None = Path(p.image).stat().st_mode & 0o7777
    except FileNotFoundError:
        mode = None
    ok = mode is not None and mode & 0o600 == 0o600 and not mode & 0o002
    yield check(
        "image-permissions",
        f"{Path(p.image).name} is readable and writable by its owner, and not by everybody",
        ok,
        expected="owner rw (0600 or 0644), not world-writable",
        actual="missing" if mode is None else f"{mode:04o}",
        hint=f"chmod 0600 {p.image}: libvirt's dynamic_ownership chowns the image to the qemu user at start, "
        "but never changes its mode; 0666 makes the disk writable by every local user",
    )


def _pool(host: Host, vm: Domain, p: BreakFixParams) -> Iterator[Check]:
    pool = host.pool(p.pool)
    config = pool.config
    target = config.target_path if config else None
    yield check(
        "pool-dir",
        f"pool {p.pool} still points at {p.pool_dir}, and that directory exists",
        target == p.pool_dir and Path(p.pool_dir).is_dir(),
        expected=f"{p.pool_dir} (a directory)",
        actual=f"{target or 'no pool'} ({'a directory' if Path(p.pool_dir).is_dir() else 'missing'})",
        hint=f"virsh pool-build {p.pool} makes the directory from the pool's own definition (or mkdir)",
    )
    yield check(
        "pool-active",
        f"pool {p.pool} is active",
        pool.is_active,
        expected="active",
        actual="active" if pool.is_active else ("inactive" if pool.exists else "not defined"),
        hint=f"virsh pool-start {p.pool}; `virsh pool-list --all` shows inactive pools",
    )
    disk = _disk(vm.config, "vdb")
    in_pool = disk is not None and (disk.source_pool, disk.source_volume) == (p.pool, p.volume)
    volume = pool.volume(p.volume) if pool.is_active else None
    yield check(
        "scratch-volume",
        f"vdb is still volume {p.volume} of pool {p.pool}, and the volume exists",
        in_pool and volume is not None,
        expected=f"vdb -> {p.pool}/{p.volume}, present",
        actual=(f"vdb -> {disk.source_pool}/{disk.source_volume}" if disk else "no vdb")
        + (", present" if volume is not None else ", no such volume"),
        hint=f"virsh vol-create-as {p.pool} {p.volume} {p.volume_mib}M --format qcow2 once the pool runs; "
        "removing the disk from the guest hides the fault",
    )


def _emulator(host: Host, vm: Domain, p: BreakFixParams) -> Iterator[Check]:
    config = vm.config
    emulator = config.emulator if config else None
    known = CapabilitiesXML.from_xml(host.connection.conn.getCapabilities()).emulators()
    ok = emulator in known and emulator is not None and os.access(emulator, os.X_OK)
    yield check(
        "emulator",
        "the definition names an emulator libvirt knows on this host",
        ok,
        expected=" or ".join(sorted(known)) or "an emulator from virsh capabilities",
        actual=emulator or "none",
        hint="virsh domcapabilities shows the emulator's <path>; set <emulator> to it (virsh edit, or "
        "dumpxml / edit / define). A script standing in for the removed binary is not QEMU",
    )


def _bridge(host: Host, vm: Domain, p: BreakFixParams) -> Iterator[Check]:
    nic = vm.config.interface(p.mac) if vm.config else None
    yield check(
        "nic-bridge",
        f"the NIC {p.mac} is on bridge {p.bridge} in the persistent definition",
        nic is not None and nic.type == "bridge" and nic.source_bridge == p.bridge,
        expected=f"{p.mac} -> bridge {p.bridge}",
        actual=f"{p.mac} -> {nic.type} {nic.source_bridge or nic.source_network or ''}".strip()
        if nic
        else f"no NIC {p.mac}",
        hint=f"point the NIC at the bridge that exists (ip -br link show type bridge): {p.bridge}. Keep its MAC "
        "(the guest's network config and DHCP reservations know it); a bridge made up to match the "
        "old name connects the guest to nothing",
    )
    live = vm.live.interface(p.mac) if vm.live else None
    tap = live.target_dev if live else None
    bridge = host.bridge(p.bridge)
    yield check(
        "nic-live",
        f"the running guest's NIC {p.mac} is plugged into {p.bridge}",
        live is not None and tap is not None and bridge.has_port(tap),
        expected=f"its tap is a port of {p.bridge}",
        actual=f"tap {tap}; ports of {p.bridge}: {', '.join(bridge.ports) or 'none'}"
        if live
        else "guest not running"
        if vm.live is None
        else f"no NIC {p.mac} in the running guest",
        hint=f"start the guest once the definition is right; `bridge link` lists the ports of {p.bridge}",
    )


def _io_error(host: Host, vm: Domain, p: BreakFixParams) -> Iterator[Check]:
    info = host.image(p.data_disk).info()
    try:
        fs = os.statvfs(p.datastore)
        free = fs.f_bavail * fs.f_frsize
    except OSError:
        free = 0
    need = (info.virtual_size - (info.actual_size or 0) + 1024**2) if info else None
    yield check(
        "disk-space",
        f"{p.datastore} has room for the data disk to grow to its full {p.data_mib} MiB",
        need is not None and free >= need,
        expected=f">= {need // 1024**2} MiB free" if need is not None else "the data disk present",
        actual=f"{free / 1024**2:.1f} MiB free" if info else f"{p.data_disk} is missing",
        hint=f"df -h {p.datastore}; du -sh {p.datastore}/*: remove what does not belong there (or grow the "
        "filesystem). A thin qcow2 pauses its guest again as soon as it needs a cluster that does not fit",
    )
    disk = _disk(vm.config, "vdb")
    on_datastore = disk is not None and disk.source == p.data_disk
    policy = disk.error_policy if disk else None
    yield check(
        "error-policy",
        "the data disk still stops the guest on a write error (error_policy stop)",
        on_datastore and policy in (None, "stop", "enospc"),
        expected="stop (or enospc, the default)",
        actual=(policy or "default (enospc)") if on_datastore else "no such data disk",
        hint="report/ignore hand the error to the guest (or drop it): filesystems go read-only, "
        "databases corrupt. Pausing is what keeps the data safe while you make room",
    )
    live = _disk(vm.live, "vdb")
    running = vm.live is not None
    yield check(
        "data-disk",
        f"vdb is still {p.data_disk}, in the definition and in the running guest",
        on_datastore and (not running or (live is not None and live.source == p.data_disk)),
        expected=f"vdb -> {p.data_disk}",
        actual=f"vdb -> {disk.source}" if disk else "no vdb in the definition",
        hint="the guest's data lives on that disk: make room under it, do not detach it",
    )


def _disk(xml: DomainXML | None, target: str) -> DiskXML | None:
    return xml.disk(target) if xml else None


FAULT_CHECKS: dict[str, Callable[[Host, Domain, BreakFixParams], Iterator[Check]]] = {
    "backing": _backing,
    "permissions": _permissions,
    "pool": _pool,
    "emulator": _emulator,
    "bridge": _bridge,
    "io-error": _io_error,
}
