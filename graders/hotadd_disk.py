"""Checks of the hotadd-disk lab (seed question 15)."""

from __future__ import annotations

from kvmlab.grading import Checks, check, hot_plugged, same_in_both, step, wait_until
from kvmlab.host import Host
from kvmlab.labs.hotadd_disk import DiskParams


def _gib(n: int | None) -> str:
    return "none" if n is None else f"{n / 1024**3:g} GiB"


@step(
    1,
    "Create the disk image",
    hints=(
        "A disk image is a file whose format (qcow2 or raw) and virtual size are fixed when it is made; "
        "the virtual size is what the guest sees, not what the file takes on the host.",
        "qemu-img create -f FORMAT PATH SIZE (SIZE with a unit, e.g. 2G)",
    ),
)
def image(host: Host, p: DiskParams) -> Checks:
    info = host.image(p.image).info()
    yield check(
        "image-exists",
        f"the image {p.image} exists",
        info is not None,
        expected=p.image,
        actual="present" if info else "missing",
        hint="the lab looks for the image at the path in p.image: qemu-img makes disk images",
    )
    yield check(
        "image-format",
        f"the image is {p.format}",
        info is not None and info.format == p.format,
        expected=p.format,
        actual=info.format if info else "none",
        hint="an image's format is chosen when it is made; qemu-img info shows what an image really is",
    )
    yield check(
        "image-size",
        f"its virtual size is {p.size_gib} GiB",
        info is not None and info.virtual_size == p.size_bytes,
        expected=_gib(p.size_bytes),
        actual=_gib(info.virtual_size if info else None),
        hint="the size given at creation is the virtual size the guest will see (qemu-img info shows it); "
        "an attached image is resized only while detached",
    )


@step(
    2,
    "Attach it to the running guest, live and persistent",
    hints=(
        "Attaching a disk can change the running guest, the persistent definition (a separate copy, read at the "
        "next boot), or both; and libvirt never guesses an image's format: it must be told.",
        "virsh attach-disk DOMAIN IMAGE TARGET --driver qemu --subdriver FORMAT --targetbus virtio, plus the option "
        "that changes the running guest and the one that writes the definition",
    ),
)
def attach(host: Host, p: DiskParams) -> Checks:
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
        hint="the running guest (libvirt's live XML, virsh domblklist) does not have the disk: "
        "a change meant for it has to say so",
    )
    config_targets = ", ".join(d.target or "?" for d in config.disks()) if config else "no persistent definition"
    yield check(
        "disk-config",
        f"{p.target} is in the persistent definition (survives a restart)",
        config_disk is not None and config_disk.source == p.image,
        expected=f"{p.target} -> {p.image}",
        actual=f"{p.target} -> {config_disk.source}" if config_disk else f"disks: {config_targets}",
        hint="a change made only to the running guest is gone after the next boot: the persistent definition "
        "(virsh dumpxml --inactive) is a separate copy",
    )
    # Both views: a disk attached live with the right format but written to the definition
    # without it would be read as raw bytes after the next boot.
    yield same_in_both(
        "disk-driver",
        f"libvirt opens it as {p.format}, in the running guest and in the definition",
        vm.both(lambda xml: xml.disk(p.target)),
        lambda disk: disk.format,
        p.format,
        hint="libvirt does not probe formats (it would be a security hole): without being told, it shows the "
        "guest a qcow2 file as raw bytes; each view of the guest records the format it was given",
    )
    plugged = vm.hotplugged(live_disk.alias) if live_disk is not None and live_disk.alias else None
    yield hot_plugged("disk-hotplugged", p.target, plugged)

    def new_disks() -> dict[str, int]:
        seen = guest.block_devices() if guest is not None else {}
        return {name: size for name, size in seen.items() if name != "vda" and not name[-1].isdigit()}

    guest = vm.guest
    # A disk in the live XML reaches the guest kernel a moment later (PCI
    # hot-plug). Wait until the guest has caught up with every live disk, not
    # for the right answer: a wrong size must not make the check slow.
    count = len(live.disks()) - 1 if live else 0
    extra = wait_until(new_disks, lambda found: len(found) >= count, seconds=10 if count else 0)
    yield check(
        "guest-sees-disk",
        f"the guest sees a new {p.size_gib} GiB disk",
        p.size_bytes in extra.values(),
        expected=f"a {_gib(p.size_bytes)} virtio disk besides vda",
        actual=", ".join(f"{n} ({_gib(s)})" for n, s in extra.items()) or "no new disk",
        hint="the guest kernel names disks in the order it finds them, whatever libvirt calls them: "
        "ask it what it sees (/proc/partitions)",
    )
