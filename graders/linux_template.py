"""Checks of the linux-template lab (seed question 19).

The sealed state is read out of the base image without booting it (qemu-img
convert + debugfs), the chain with ``qemu-img info --backing-chain``, the
clones from their persistent definitions, the boot from the clone's own
console log.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from kvmlab.grading import Check, check
from kvmlab.guest.build import READY_MARKER
from kvmlab.host import Host, ImageInfo
from kvmlab.labs.linux_template import SEALED_HOSTNAMES, TemplateParams
from kvmlab.resources.imagefs import ImageFiles, ImageUnreadable
from kvmlab.resources.trainee_files import same_file
from kvmlab.xmlviews import DomainXML

LOGS = ("/var/log/messages",)
HISTORIES = ("/root/.bash_history",)


def _backing(p: TemplateParams, chain: list[ImageInfo]) -> tuple[bool, str]:
    """A clone disk is right when it is qcow2, backed by the base (qcow2), and the base stands alone."""
    if not chain:
        return False, "missing"
    top = chain[0]
    backing = top.backing_file
    if not backing:
        return False, f"{top.format}, no backing file (a full copy)"
    said = f"{top.format} -> {backing} ({top.backing_format or '?'})"
    right = top.format == "qcow2" and same_file(backing, p.base) and top.backing_format == "qcow2" and len(chain) == 2
    return right, said + ("" if len(chain) <= 2 else f", then {len(chain) - 2} more")


def _empty_or_gone(fs: ImageFiles, paths: tuple[str, ...]) -> list[str]:
    """The paths that still have content."""
    left = []
    for path in paths:
        text = fs.read(path)
        if text:
            left.append(f"{path} ({len(text.splitlines())} lines)")
    return left


def checks(host: Host, p: TemplateParams) -> Iterator[Check]:
    clones = p.clones
    for_each = []
    for name, disk in clones:
        right, said = _backing(p, host.image(disk).chain())
        for_each.append((name, right, said))
    yield check(
        "clones-backed",
        "each clone's disk is a qcow2 overlay on the base image",
        all(right for _, right, _ in for_each),
        expected=f"qcow2 -> {p.base} (qcow2)",
        actual="; ".join(
            f"{Path(disk).name}: {said}" for (_, disk), (_, _, said) in zip(clones, for_each, strict=True)
        ),
        hint=f"qemu-img create -f qcow2 -b {p.base} -F qcow2 CLONE.qcow2: a few hundred KiB per clone, made in "
        "milliseconds; a full copy (cp, qemu-img convert) costs the whole image per clone",
    )

    mode = host.image(p.base).mode
    yield check(
        "base-read-only",
        "the base image is read-only (no write permission for anyone)",
        mode is not None and mode & 0o222 == 0,
        expected="0444",
        actual="missing" if mode is None else f"{mode:04o}",
        hint=f"chmod 0444 {p.base}: writing the base (booting the template, virt-customize on it) silently "
        "corrupts every clone built on it",
    )

    yield from _sealed(host, p)

    template = host.domain(p.template)
    configs = [(name, disk, host.domain(name).config, host.domain(name).uuid) for name, disk in clones]
    missing = [name for name, _, config, _ in configs if config is None]
    wrong_disk = [name for name, disk, config, _ in configs if config is not None and not same_file(_vda(config), disk)]
    uuids = [uuid for _, _, _, uuid in configs if uuid] + ([template.uuid] if template.uuid else [])
    yield check(
        "clones-defined",
        "both clones are defined, each with its own UUID and its own overlay as vda",
        not missing and not wrong_disk and len(set(uuids)) == len(uuids),
        expected=", ".join(f"{name}: vda -> {Path(disk).name}" for name, disk in clones),
        actual="; ".join(
            f"{name}: not defined"
            if config is None
            else f"{name}: uuid {uuid}, vda -> {Path(_vda(config) or 'none').name}"
            for name, _, config, uuid in configs
        ),
        hint=f"virt-clone --original {p.template} --name CLONE --file CLONE.qcow2 --preserve-data "
        "(new name, UUID and MAC; --preserve-data keeps your overlay as it is)",
    )

    macs: dict[str, list[str]] = {}
    for name, config in [(p.template, template.config)] + [(name, config) for name, _, config, _ in configs]:
        for nic in config.interfaces() if config is not None else []:
            macs.setdefault((nic.mac or "").lower(), []).append(name)
    shared = {mac: names for mac, names in macs.items() if len(names) > 1}
    clone_macs = [mac for mac, names in macs.items() if any(n != p.template for n in names)]
    yield check(
        "clones-distinct-mac",
        "every clone has a MAC of its own (not the template's, not another clone's)",
        not missing and bool(clone_macs) and not shared,
        expected="all MACs different",
        actual=", ".join(f"{mac} used by {' and '.join(names)}" for mac, names in shared.items())
        or ", ".join(f"{'/'.join(names)}: {mac}" for mac, names in macs.items())
        or "no NICs",
        hint="two NICs with one MAC on a LAN fight over it (ARP flapping, lost DHCP leases): delete the <mac> "
        "line before virsh define, or let virt-clone pick new ones",
    )

    yield _boots(host, p)


def _vda(config: DomainXML) -> str | None:
    disk = config.disk("vda")
    return disk.source if disk is not None else None


def _sealed(host: Host, p: TemplateParams) -> Iterator[Check]:
    machine_id: str | None = None
    keys: list[str] | None = None
    hostname: str | None = None
    logs: list[str] = []
    history: list[str] = []
    problem = ""
    try:
        with host.image(p.base).files() as fs:
            machine_id = fs.read("/etc/machine-id")
            keys = [n for n in fs.listdir("/etc/ssh") or [] if n.startswith("ssh_host_")]
            hostname = (fs.read("/etc/hostname") or "").strip()
            logs = _empty_or_gone(fs, LOGS)
            history = _empty_or_gone(fs, HISTORIES)
    except ImageUnreadable as err:
        problem = err.message

    mid = (machine_id or "").strip()
    yield check(
        "sealed-machine-id",
        "/etc/machine-id in the base is empty (each clone makes its own at first boot)",
        not problem and machine_id is not None and mid in ("", "uninitialized"),
        expected="present and empty",
        actual=problem or ("missing" if machine_id is None else (mid or "empty")),
        hint="virt-sysprep (its machine-id operation), or virt-customize --truncate /etc/machine-id; keep the "
        "file (empty): systemd treats an empty one as a first boot. Clones sharing one machine-id get the same "
        "DHCP client id and journal id",
    )
    yield check(
        "sealed-ssh-keys",
        "the base has no SSH host keys (each clone generates its own)",
        not problem and keys == [],
        expected="no /etc/ssh/ssh_host_*",
        actual=problem or ", ".join(keys or []) or "none",
        hint="virt-sysprep's ssh-hostkeys operation, or virt-customize --delete '/etc/ssh/ssh_host_*': clones "
        "with one host key can impersonate each other",
    )
    yield check(
        "sealed-hostname",
        f"the base's hostname is reset ({' or '.join(SEALED_HOSTNAMES)})",
        not problem and hostname in SEALED_HOSTNAMES,
        expected=p.hostname,
        actual=problem or hostname or "empty",
        hint=f"virt-sysprep --hostname {p.hostname} (or virt-customize --hostname): the template's own name "
        "must not reach the clones",
    )
    yield check(
        "sealed-logs",
        "the base's logs are empty",
        not problem and not logs,
        expected=f"{', '.join(LOGS)} empty or removed",
        actual=problem or ", ".join(logs) or "empty",
        hint="virt-sysprep's logfiles operation (or virt-customize --truncate/--delete): a clone must not start "
        "with the template's history",
    )
    yield check(
        "sealed-history",
        "root's shell history is gone from the base",
        not problem and not history,
        expected=f"{', '.join(HISTORIES)} empty or removed",
        actual=problem or ", ".join(history) or "empty",
        hint="virt-sysprep's bash-history operation: histories carry passwords typed by mistake",
    )


def _boots(host: Host, p: TemplateParams) -> Check:
    vm = host.domain(p.clone1)
    live = vm.live
    log = live.serial_log if live is not None else None
    line = ""
    if log:
        try:
            text = Path(log).read_bytes()
        except OSError:
            text = b""
        line = next((ln for ln in text.decode(errors="replace").splitlines() if READY_MARKER.decode() in ln), "")
    if live is None:
        actual = f"not running ({vm.state})"
    elif not log:
        actual = "running, but its serial console has no log file"
    else:
        actual = line.strip() or f"running, no readiness line yet in {log}"
    return check(
        "clone-boots",
        f"{p.clone1} boots from its overlay",
        bool(line),
        expected=f"{READY_MARKER.decode()} hostname={p.hostname} machine-id=none",
        actual=actual,
        hint=f"virsh start {p.clone1}, then wait for the readiness line (virsh console {p.clone1}, or its console log)",
    )
