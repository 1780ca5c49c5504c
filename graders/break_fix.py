"""Checks of the break-fix lab (troubleshooting).

Every fault has two checks in common, ``guest-running`` and ``data-intact``,
and checks of its own that ask for the cause to be fixed, not worked around.
The ids depend only on the fault, so a class's results line up per fault.

The fault is the puzzle. While the guest does not run, the rows about its
cause say only that it is not fixed yet: their titles and details would
name the fault, and the trainee is to find it from the evidence (the state
and its reason, virsh start's error, libvirt's log of the guest's QEMU).
Once the guest runs, they say in full whether the fix was a fix or a
workaround.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

from kvmlab.grading import Check, Checks, check, step, wait_until
from kvmlab.host import DiskXML, Domain, DomainXML, Host
from kvmlab.labs.break_fix import BreakFixParams

AGENT_WAIT = 15.0  # a guest started a moment ago is still booting
SEALED_TITLE = "the cause, fixed where it is, not worked around (said in full once the guest runs)"
SEALED_ACTUAL = "the guest does not run yet: name the cause from its state, virsh start's error and its log"


def _sealed(row: Check, running: bool) -> Check:
    """The row as it is once the guest runs; before, without the words that would name the fault."""
    if running:
        return row
    row.title, row.expected, row.hint = SEALED_TITLE, "the cause found and fixed", ""
    row.actual = "fixed" if row.passed else SEALED_ACTUAL
    return row


@step(
    1,
    "Name the cause and fix it where it is",
    hints=(
        "A guest that will not run has one cause, and the evidence names it: the state and its reason, the error "
        "a start prints (libvirt checks the emulator, pools, bridges and backing chains before QEMU runs) and "
        "libvirt's log of the guest's QEMU (what QEMU itself could not open). Fix the object the error names, in "
        "place: a workaround makes the guest run and leaves the cause, or loses its data.",
        "virsh domstate DOMAIN --reason; virsh start DOMAIN (read the error); tail LOG; then the tool of the object "
        "named: qemu-img info --backing-chain, ls -l, virsh domblkerror, virsh pool-list --all, ip -br link show "
        "type bridge, virsh domcapabilities; edit a definition with dumpxml / edit / define",
    ),
)
def cause(host: Host, p: BreakFixParams) -> Checks:
    vm = host.domain(p.domain)
    running = vm.state == "running"
    yield _sealed(_data_intact(host, vm, p), running)
    for row in FAULT_CHECKS[p.fault](host, vm, p):
        yield _sealed(row, running)


@step(
    2,
    "Bring the guest back",
    hints=(
        "A guest that failed to start is shut off: once the cause is gone it starts like any other. A guest "
        "paused on an I/O error is still running its QEMU: it is resumed, not restarted, and retries the write "
        "that failed.",
        "virsh start DOMAIN (shut off) or virsh resume DOMAIN (paused); then wait for it to boot and its agent to "
        "answer",
    ),
)
def back(host: Host, p: BreakFixParams) -> Checks:
    vm = host.domain(p.domain)
    state = vm.state_with_reason if vm.exists else "not defined"
    running = vm.state == "running"
    guest = vm.guest
    answers = running and guest is not None and wait_until(guest.ping, bool, seconds=AGENT_WAIT)
    hint = (
        "a guest paused on an I/O error waits for the cause to go: libvirt names the failing disk and the error; "
        "once it is fixed the guest is resumed, not restarted"
        if vm.state == "paused"
        else f"a guest that will not start says why: the error of the start itself, and libvirt's log of its QEMU "
        f"({p.log})"
    )
    yield check(
        "guest-running",
        f"{p.domain} runs again (running, not paused, and its agent answers)",
        answers,
        expected="running, agent answers",
        actual=state if not running else ("running, agent answers" if answers else "running, agent silent"),
        hint=hint,
    )


def _data_intact(host: Host, vm: Domain, p: BreakFixParams) -> Check:
    config = vm.config
    vda = config.disk("vda") if config else None
    source = vda.source if vda else None
    if source != p.image:
        ok, said = False, f"vda is {source or 'missing'}"
    else:
        ok, said = host.disk_marks(p.image).read_back(p.mark)
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
        hint="an overlay stores its backing file's path: rebasing it onto wherever the base went hides the move "
        "until the next tidy-up",
    )
    kind = host.file(p.base).kind
    yield check(
        "base-in-place",
        f"{p.base} is the base image itself, a regular file",
        kind == "file",
        expected="regular file",
        actual=kind,
        hint="the base belongs where the overlay points: a symlink into an archive directory breaks again when "
        "that directory is cleaned, and a new empty base loses the data",
    )


def _permissions(host: Host, vm: Domain, p: BreakFixParams) -> Iterator[Check]:
    mode = host.file(p.image).mode
    ok = mode is not None and mode & 0o600 == 0o600 and not mode & 0o002
    yield check(
        "image-permissions",
        f"{Path(p.image).name} is readable and writable by its owner, and not by everybody",
        ok,
        expected="owner rw (0600 or 0644), not world-writable",
        actual="missing" if mode is None else f"{mode:04o}",
        hint="QEMU runs as its own user: libvirt's dynamic_ownership chowns the image to it at start, but never "
        "changes the mode; a world-writable disk is open to every local user",
    )


def _pool(host: Host, vm: Domain, p: BreakFixParams) -> Iterator[Check]:
    pool = host.pool(p.pool)
    config = pool.config
    target = config.target_path if config else None
    is_dir = host.file(p.pool_dir).kind == "directory"
    yield check(
        "pool-dir",
        f"pool {p.pool} still points at {p.pool_dir}, and that directory exists",
        target == p.pool_dir and is_dir,
        expected=f"{p.pool_dir} (a directory)",
        actual=f"{target or 'no pool'} ({'a directory' if is_dir else 'missing'})",
        hint="a dir pool is a directory plus libvirt's definition of it: the definition still knows where the "
        "directory belongs, and libvirt can build it again from there",
    )
    yield check(
        "pool-active",
        f"pool {p.pool} is active",
        pool.is_active,
        expected="active",
        actual="active" if pool.is_active else ("inactive" if pool.exists else "not defined"),
        hint="a pool whose directory is back is still inactive until it is started; inactive pools are listed "
        "only when all are asked for",
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
        hint="the volume went with the directory: it is made again in the running pool, under the same name; "
        "removing the disk from the guest hides the fault",
    )


def _emulator(host: Host, vm: Domain, p: BreakFixParams) -> Iterator[Check]:
    config = vm.config
    emulator = config.emulator if config else None
    known = host.emulators()
    ok = emulator is not None and emulator in known and host.file(emulator).executable
    yield check(
        "emulator",
        "the definition names an emulator libvirt knows on this host",
        ok,
        expected=" or ".join(sorted(known)) or "an emulator from virsh capabilities",
        actual=emulator or "none",
        hint="libvirt's domain capabilities name the emulator it would use; the definition must name a real QEMU "
        "(a script standing in for the removed binary is not QEMU), changed in the definition itself",
    )


def _bridge(host: Host, vm: Domain, p: BreakFixParams) -> Iterator[Check]:
    config = vm.config  # read once: each read asks libvirt again, and the guest may stop in between
    nic = config.interface(p.mac) if config else None
    yield check(
        "nic-bridge",
        f"the NIC {p.mac} is on bridge {p.bridge} in the persistent definition",
        nic is not None and nic.type == "bridge" and nic.source_bridge == p.bridge,
        expected=f"{p.mac} -> bridge {p.bridge}",
        actual=f"{p.mac} -> {nic.type} {nic.source_bridge or nic.source_network or ''}".strip()
        if nic
        else f"no NIC {p.mac}",
        hint="the NIC belongs on the bridge that exists (the host's bridges are listed by ip), with its own MAC: "
        "the guest's network configuration and DHCP reservations know it; a bridge made up to match the old "
        "name connects the guest to nothing",
    )
    running = vm.live
    live = running.interface(p.mac) if running else None
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
        hint="the running guest gets the definition's NIC when it starts; `bridge link` lists a bridge's ports",
    )


def _io_error(host: Host, vm: Domain, p: BreakFixParams) -> Iterator[Check]:
    info = host.image(p.data_disk).info()
    free = host.file(p.datastore).free_bytes or 0
    need = (info.virtual_size - (info.actual_size or 0) + 1024**2) if info else None
    yield check(
        "disk-space",
        f"{p.datastore} has room for the data disk to grow to its full {p.data_mib} MiB",
        need is not None and free >= need,
        expected=f">= {need // 1024**2} MiB free" if need is not None else "the data disk present",
        actual=f"{free / 1024**2:.1f} MiB free" if info else f"{p.data_disk} is missing",
        hint="the filesystem under a thin disk filled up: what does not belong there goes (or the filesystem "
        "grows). A thin qcow2 pauses its guest again as soon as it needs a cluster that does not fit",
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
        hint="report hands the error to the guest (filesystems go read-only, databases corrupt); ignore tells the "
        "guest the write succeeded and the data is lost. Pausing is what keeps the data safe while you make room",
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
