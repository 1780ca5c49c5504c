"""Checks of the windows-template lab (seed question 20).

Everything is read from the persistent definition (``dumpxml --inactive``)
and from the template disk: the domain is never started here.
"""

from __future__ import annotations

from collections.abc import Iterator

from kvmlab.grading import Check, check
from kvmlab.host import Host
from kvmlab.labs.windows_template import WindowsParams
from kvmlab.xmlviews import DomainXML

SYSTEM_DISK_BUSES = ("virtio", "sata")
LOOPBACK = ("127.0.0.1", "::1", "localhost")


def _gib(n: int | None) -> str:
    return "none" if n is None else f"{n / 1024**3:g} GiB"


def checks(host: Host, p: WindowsParams) -> Iterator[Check]:
    info = host.image(p.disk).info()
    fmt = info.format if info else None
    size = info.virtual_size if info else None
    yield check(
        "template-disk",
        f"the template disk is {p.disk_format}, {p.disk_size_gib} GiB",
        fmt == p.disk_format and size == p.disk_size_gib * 1024**3,
        expected=f"{p.disk_format}, {p.disk_size_gib} GiB",
        actual=f"{fmt}, {_gib(size)}" if info else "missing",
        hint=f"qemu-img create -f {p.disk_format} {p.disk} {p.disk_size_gib}G (2008 R2 needs 32 GB at least; "
        "qcow2 stays small until Windows writes)",
    )

    vm = host.domain(p.domain)
    config = vm.config
    yield check(
        "template-defined",
        f"{p.domain} is defined (persistent) and not running",
        config is not None and not vm.is_running,
        expected="defined, shut off",
        actual="not defined" if config is None else vm.state,
        hint=f"virsh define {p.xml} (not virsh create, which starts a transient guest); a template is never "
        "booted once it is sealed",
    )
    yield from _devices(p, config)
    yield from _features(p, config)


def _devices(p: WindowsParams, config: DomainXML | None) -> Iterator[Check]:
    disks = config.disks() if config is not None else []
    system = next((d for d in disks if d.device == "disk" and d.source == p.disk), None)
    yield check(
        "system-disk",
        f"the template disk is attached as {p.disk_format} on virtio or SATA",
        system is not None and system.bus in SYSTEM_DISK_BUSES and system.format == p.disk_format,
        expected=f"{p.disk} on virtio (or sata), driver type {p.disk_format}",
        actual="not attached" if system is None else f"{system.target} on {system.bus}, driver type {system.format}",
        hint="virt-install --disk path=DISK,format=qcow2,bus=virtio: 2008 R2 has no in-box virtio driver, so "
        "setup needs viostor from the virtio-win CD (Load driver); bus=sata works with no extra driver",
    )
    cds = [d for d in disks if d.device == "cdrom"]
    driver_cd = next((d for d in cds if d.source == p.virtio_iso), None)
    yield check(
        "virtio-win-cd",
        "a CD-ROM holds the virtio-win driver ISO",
        driver_cd is not None,
        expected=f"cdrom -> {p.virtio_iso}",
        actual=", ".join(f"{d.target}: {d.source or 'empty tray'}" for d in cds) or "no CD-ROM",
        hint=f"a second --disk device=cdrom, then: virsh change-media {p.domain} sdb {p.virtio_iso} --insert "
        "--config (the ISO comes from the virtio-win package / Fedora's virtio-win project)",
    )
    video = config.video_model if config is not None else None
    yield check(
        "video-qxl",
        "the video card is QXL (the SPICE-aware one)",
        video == "qxl",
        expected="qxl",
        actual=video or "none",
        hint="virt-install --video qxl (with the qxl WDDM/XPDM driver from virtio-win inside Windows)",
    )
    graphics = config.graphics() if config is not None else []
    spice = [g for g in graphics if g.type == "spice"]
    addresses = [(g.type, g.listen_address or g.listen or "all addresses") for g in graphics]
    yield check(
        "spice-loopback",
        "SPICE is the display and listens on 127.0.0.1 only",
        bool(spice) and all(addr in LOOPBACK for _, addr in addresses),
        expected=f"spice on {p.spice_listen}, nothing else listening",
        actual=", ".join(f"{kind} on {addr}" for kind, addr in addresses) or "no graphics",
        hint="--graphics spice,listen=127.0.0.1 and reach it through an SSH tunnel (virt-viewer --connect "
        "qemu+ssh://HOST/system GUEST): a SPICE port on 0.0.0.0 without TLS or a password gives anyone the console",
    )


def _features(p: WindowsParams, config: DomainXML | None) -> Iterator[Check]:
    hyperv = config.hyperv_features() if config is not None else {}
    retries = config.hyperv_spinlock_retries if config is not None else None
    wanted = {"relaxed": "on", "vapic": "on", "spinlocks": "on"}
    yield check(
        "hyperv",
        "Hyper-V enlightenments: relaxed, vapic, spinlocks (retries 8191)",
        all(hyperv.get(name) == state for name, state in wanted.items()) and retries == 8191,
        expected="relaxed=on vapic=on spinlocks=on retries=8191",
        actual=" ".join(f"{name}={state}" for name, state in hyperv.items())
        + (f" retries={retries}" if retries else "")
        or "no <hyperv>",
        hint="--features hyperv.relaxed.state=on,hyperv.vapic.state=on,hyperv.spinlocks.state=on,"
        "hyperv.spinlocks.retries=8191 (virt-install --os-variant win2k8r2 adds them): Windows then uses the "
        "paravirtual interfaces it knows from Hyper-V instead of spinning on emulated hardware",
    )
    offset = config.clock_offset if config is not None else None
    yield check(
        "clock-localtime",
        "the guest clock starts at the host's local time (Windows keeps the RTC in local time)",
        offset == "localtime",
        expected="<clock offset='localtime'>",
        actual=f"offset={offset}" if offset else "no <clock>",
        hint="--clock offset=localtime: with utc, Windows shows the time shifted by the host's UTC offset",
    )
    timers = config.timers() if config is not None else {}
    hv = timers.get("hypervclock", {}).get("present")
    rtc = timers.get("rtc", {}).get("tickpolicy")
    yield check(
        "clock-timers",
        "hypervclock is present and the RTC catches up on missed ticks",
        hv == "yes" and rtc == "catchup",
        expected="hypervclock present=yes, rtc tickpolicy=catchup",
        actual=f"hypervclock {'present=' + hv if hv else 'absent'}, rtc {'tickpolicy=' + rtc if rtc else 'default'}",
        hint="--clock ...,rtc_tickpolicy=catchup,hypervclock_present=yes: a paravirtual clock source for Windows, "
        "and a clock that does not fall behind when the host is busy",
    )
