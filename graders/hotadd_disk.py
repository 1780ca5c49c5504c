"""Checks of the hotadd-disk lab (seed question 15)."""

from __future__ import annotations

from collections.abc import Iterator

from kvmlab.grading import Check, check
from kvmlab.host import Host
from kvmlab.labs.hotadd_disk import DiskParams
from kvmlab.resources.agent import poll


def _gib(n: int | None) -> str:
    return "none" if n is None else f"{n / 1024**3:g} GiB"


def checks(host: Host, p: DiskParams) -> Iterator[Check]:
    image = host.image(p.image)
    info = image.info()
    yield check(
        "image-exists",
        f"the image {p.image} exists",
        info is not None,
        expected=p.image,
        actual="present" if info else "missing",
        hint=f"create it: qemu-img create -f {p.format} {p.image} {p.size_gib}G",
    )
    fmt = info.format if info else None
    yield check(
        "image-format",
        f"the image is {p.format}",
        fmt == p.format,
        expected=p.format,
        actual=fmt or "none",
        hint=f"qemu-img create -f {p.format} ...; convert an existing one with qemu-img convert -O {p.format}",
    )
    size = info.virtual_size if info else None
    yield check(
        "image-size",
        f"its virtual size is {p.size_gib} GiB",
        size == p.size_bytes,
        expected=_gib(p.size_bytes),
        actual=_gib(size),
        hint="qemu-img info shows the virtual size; qemu-img resize changes it (while detached)",
    )

    vm = host.domain(p.domain)
    live, config = vm.live, vm.config
    live_disk = live.disk(p.target) if live else None
    config_disk = config.disk(p.target) if config else None
    live_targets = ", ".join(d.target or "?" for d in live.disks()) if live else "guest not running"
    yield check(
        "disk-live",
        f"{p.target} is attached to the running guest",
        live_disk is not None and live_disk.source == p.image,
        expected=f"{p.target} -> {p.image}",
        actual=f"{p.target} -> {live_disk.source}" if live_disk else f"disks: {live_targets}",
        hint="attach it with --live (virsh attach-disk ... --live --config)",
    )
    config_targets = ", ".join(d.target or "?" for d in config.disks()) if config else "no persistent definition"
    yield check(
        "disk-config",
        f"{p.target} is in the persistent definition (survives a restart)",
        config_disk is not None and config_disk.source == p.image,
        expected=f"{p.target} -> {p.image}",
        actual=f"{p.target} -> {config_disk.source}" if config_disk else f"disks: {config_targets}",
        hint="--live alone is lost at the next boot: add --config (or virsh dumpxml | define)",
    )
    driver = live_disk.format if live_disk else None
    yield check(
        "disk-driver",
        f"libvirt opens it as {p.format}",
        driver == p.format,
        expected=p.format,
        actual=driver or "not attached",
        hint=f"libvirt does not probe formats: pass --subdriver {p.format}, "
        "or the guest sees the qcow2 header as raw bytes",
    )

    def new_disks() -> dict[str, int]:
        seen = guest.block_devices() if guest is not None else {}
        return {name: size for name, size in seen.items() if name != "vda" and not name[-1].isdigit()}

    guest = vm.guest
    # A disk in the live XML reaches the guest kernel a moment later (PCI
    # hot-plug). Wait until the guest has caught up with every live disk, not
    # for the right answer: a wrong size must not make the check slow.
    plugged = len(live.disks()) - 1 if live else 0
    extra = poll(new_disks, lambda found: len(found) >= plugged, seconds=10 if plugged else 0)
    yield check(
        "guest-sees-disk",
        f"the guest sees a new {p.size_gib} GiB disk",
        p.size_bytes in extra.values(),
        expected=f"a {_gib(p.size_bytes)} virtio disk besides vda",
        actual=", ".join(f"{n} ({_gib(s)})" for n, s in extra.items()) or "no new disk",
        hint="the guest kernel names disks in the order it finds them: "
        "check `cat /proc/partitions` in the guest (virsh console)",
    )
