"""Checks of the P2V/V2V and SPICE lab (seed question 14)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from kvmlab.grading import Check, check
from kvmlab.guest.build import READY_MARKER
from kvmlab.host import Host, ImageInfo
from kvmlab.labs.p2v_v2v import V2vParams, read_guest_file
from kvmlab.resources.agent import poll
from kvmlab.resources.sockets import is_loopback, tcp_listeners
from kvmlab.xmlviews import DomainXML, GraphicsXML

BOOT_WAIT = 20.0  # a guest started seconds ago may still be booting (TCG on a busy host)


def _mib(n: int | None) -> str:
    return "none" if n is None else f"{n / 1024**2:g} MiB"


def _info(host: Host, path: str) -> ImageInfo | None:
    return host.image(path).info()


def ready_line(console_log: str) -> dict[str, str] | None:
    """The guest's last readiness line as key=value pairs (hostname, machine-id, cpus); None before it."""
    try:
        raw = Path(console_log).read_bytes()
    except OSError:
        return None
    lines = [line for line in raw.replace(b"\r", b"").split(b"\n") if READY_MARKER in line]
    if not lines:
        return None
    words = lines[-1].decode(errors="replace").split()
    return dict(word.split("=", 1) for word in words if "=" in word)


def _listens(graphics: GraphicsXML) -> list[str]:
    """Every address a graphics device is told to listen on (attribute and <listen> elements)."""
    found = [el.get("address", "") for el in graphics.node.findall("listen") if el.get("type") == "address"]
    if graphics.listen:
        found.append(graphics.listen)
    return sorted(set(found))


def _spice(xml: DomainXML | None) -> GraphicsXML | None:
    return next((g for g in xml.graphics() if g.type == "spice"), None) if xml else None


def _describe_spice(xml: DomainXML | None) -> str:
    if xml is None:
        return "no definition"
    spice = _spice(xml)
    others = ", ".join(g.type or "?" for g in xml.graphics() if g.type != "spice")
    if spice is None:
        return f"no SPICE graphics{f' (has {others})' if others else ''}"
    return f"spice listen {', '.join(_listens(spice)) or 'not set (QEMU default: every address)'}"


def checks(host: Host, p: V2vParams) -> Iterator[Check]:
    source = _info(host, p.source_disk)
    source_size = source.virtual_size if source else None

    vmdk = _info(host, p.vmdk)
    vmdk_fmt = vmdk.format if vmdk else None
    vmdk_size = vmdk.virtual_size if vmdk else None
    yield check(
        "vmdk-export",
        f"the VMware export {Path(p.vmdk).name} is a VMDK of the source disk's size",
        vmdk_fmt == "vmdk" and vmdk_size == source_size,
        expected=f"vmdk, {_mib(source_size)}",
        actual=f"{vmdk_fmt}, {_mib(vmdk_size)}" if vmdk else "missing",
        hint=f"qemu-img convert -f raw -O vmdk -o subformat={p.vmdk_subformat} {p.source_disk} {p.vmdk}",
    )

    converted = _info(host, p.converted)
    fmt = converted.format if converted else None
    yield check(
        "converted-format",
        f"{Path(p.converted).name} is qcow2",
        fmt == "qcow2",
        expected="qcow2",
        actual=fmt or "missing",
        hint=f"qemu-img convert -f vmdk -O qcow2 {p.vmdk} {p.converted} (-O names the output format)",
    )
    size = converted.virtual_size if converted else None
    yield check(
        "converted-size",
        "its virtual size equals the source disk's",
        size is not None and size == source_size,
        expected=_mib(source_size),
        actual=_mib(size),
        hint="convert, do not create: qemu-img convert keeps the virtual size; never resize a disk you import",
    )
    backing = host.image(p.converted).backing_file if converted else None
    yield check(
        "converted-standalone",
        "it is a full conversion, not an overlay on the VMDK",
        converted is not None and backing is None,
        expected="no backing file",
        actual=("missing" if converted is None else f"backing file {backing}" if backing else "no backing file"),
        hint="qemu-img create -b makes an overlay that still needs the VMDK: use qemu-img convert",
    )

    vm = host.domain(p.domain)
    config = vm.config
    disk = config.disk("vda") if config else None
    yield check(
        "imported-disk",
        f"{p.domain} is defined with the converted qcow2 as its virtio disk vda",
        disk is not None and disk.source == p.converted and disk.format == "qcow2" and disk.bus == "virtio",
        expected=f"vda (virtio) -> {p.converted}, driver type qcow2",
        actual=f"vda ({disk.bus}) -> {disk.source}, driver type {disk.format}"
        if disk
        else ("no vda" if config else "not defined"),
        hint="virt-install --import --disk path=CONVERTED,format=qcow2,bus=virtio (format= sets the driver type)",
    )

    # The readiness line is written by the guest's init from the disk it mounted:
    # hostname and machine-id prove which disk the running guest booted from.
    source_id = read_guest_file(p.source_disk, "/etc/machine-id")
    live = vm.live
    live_disk = live.disk("vda") if live else None
    ready = poll(
        lambda: ready_line(p.console_log),
        lambda line: line is not None,
        seconds=BOOT_WAIT if vm.is_running else 0,
    )
    booted = (
        live_disk is not None
        and live_disk.source == p.converted
        and ready is not None
        and ready.get("hostname") == p.source_hostname
        and ready.get("machine-id") == source_id
    )
    yield check(
        "imported-booted",
        f"{p.domain} runs and booted from the converted disk",
        booted,
        expected=f"running from {Path(p.converted).name}; hostname={p.source_hostname} machine-id={source_id}",
        actual=(
            f"not running ({vm.state})"
            if live is None
            else f"running from {Path(live_disk.source or '?').name if live_disk else 'no vda'}; "
            + (f"hostname={ready.get('hostname')} machine-id={ready.get('machine-id')}" if ready else "not ready yet")
        ),
        hint=f"virsh start {p.domain}, then wait for KVMLAB-READY in {p.console_log}",
    )

    spice = _spice(config)
    addresses = _listens(spice) if spice else []
    yield check(
        "spice-config",
        "the persistent definition has SPICE graphics listening on 127.0.0.1 only",
        spice is not None and bool(addresses) and all(is_loopback(a) for a in addresses),
        expected=f"spice listen {p.listen}",
        actual=_describe_spice(config),
        hint="--graphics spice,listen=127.0.0.1; 0.0.0.0 puts an unauthenticated console on every network",
    )

    live_spice = _spice(live)
    port = live_spice.port if live_spice else None
    sockets = tcp_listeners(port) if port and port > 0 else []
    yield check(
        "spice-socket",
        "the running guest's SPICE port really listens on loopback only",
        bool(sockets) and all(is_loopback(a) for a in sockets),
        expected=f"{p.listen}:PORT (virsh domdisplay {p.domain})",
        actual=(
            f"not running ({vm.state})"
            if live is None
            else "no SPICE port in the live XML"
            if not port or port <= 0
            else f"port {port} listens on {', '.join(sockets) or 'nothing'}"
        ),
        hint="the kernel's socket table (ss -ltn) is the truth: redefine with listen=127.0.0.1 and restart",
    )

    video = config.video_model if config else None
    yield check(
        "video-qxl",
        "its video card is QXL (SPICE's paravirtual display)",
        video == "qxl",
        expected="qxl",
        actual=video or ("no video device" if config else "not defined"),
        hint="--video qxl (virtio-gpu works with SPICE too, but QXL is what the seed and most guides use)",
    )
