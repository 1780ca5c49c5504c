"""Checks of the virt-basics lab (seed questions 1-4)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from kvmlab import accel
from kvmlab.grading import Check, check
from kvmlab.host import Host
from kvmlab.labs.virt_basics import E1000_PCI_ID, BasicsParams
from kvmlab.resources.agent import GuestAgent, poll
from kvmlab.resources.domain import Domain
from kvmlab.xmlviews import DomainXML

AGENT_WAIT = 5.0  # a guest started seconds ago may still be booting


def _verdict_written(path: str) -> str | None:
    try:
        return Path(path).read_text(errors="replace").strip().lower()
    except OSError:
        return None


def _answering(vm: Domain) -> GuestAgent | None:
    """The guest's agent if the guest runs and answers, else None (a red row, never an exception)."""
    guest = vm.guest
    if guest is None:
        return None
    return guest if poll(guest.ping, bool, AGENT_WAIT) else None


def _devices(xml: DomainXML | None) -> str:
    if xml is None:
        return "not defined"
    disks = ", ".join(f"{d.target}:{d.bus}" for d in xml.disks()) or "no disk"
    nics = ", ".join(f"{i.model}@{i.source_network or i.type}" for i in xml.interfaces()) or "no NIC"
    return f"disks {disks}; NICs {nics}"


def checks(host: Host, p: BasicsParams) -> Iterator[Check]:
    verdict = accel.decide()
    written = _verdict_written(p.verdict_file)
    yield check(
        "accel-verdict",
        f"your verdict on acceleration (in {p.verdict_file}) matches this host",
        written == verdict.accel,
        expected=verdict.accel,
        actual=written if written is not None else "no file",
        hint="read `kvmlab doctor`: /dev/kvm existing does not mean KVM works; write kvm or tcg into the file",
    )

    pv = host.domain(p.pv_domain)
    pv_config = pv.config
    pv_disk = pv_config.disk("vda") if pv_config else None
    pv_nics = [i for i in pv_config.interfaces() if i.source_network == p.network] if pv_config else []
    yield check(
        "pv-devices",
        f"{p.pv_domain} has a virtio disk and a virtio NIC",
        pv_disk is not None and pv_disk.bus == "virtio" and any(i.model == "virtio" for i in pv_nics),
        expected=f"disks vda:virtio; NICs virtio@{p.network}",
        actual=_devices(pv_config),
        hint=f"the paravirtual guest came with the lab: kvmlab lab reset virt-basics rebuilds {p.pv_domain}",
    )

    emu = host.domain(p.emu_domain)
    config = emu.config
    yield check(
        "emu-defined",
        f"{p.emu_domain} is defined (persistent)",
        config is not None,
        expected="defined",
        actual="defined" if config is not None else emu.state if emu.exists else "absent",
        hint=f"virsh define {p.emu_xml} (virsh create would make a transient guest)",
    )
    yield check(
        "emu-domain-type",
        f"its domain type uses this host's accelerator ({verdict.domain_type})",
        config is not None and config.domain_type == verdict.domain_type,
        expected=f"<domain type='{verdict.domain_type}'>",
        actual=f"<domain type='{config.domain_type}'>" if config is not None else "not defined",
        hint="type='kvm' needs a working /dev/kvm; type='qemu' is TCG, QEMU's software CPU",
    )
    emu_disk = next((d for d in config.disks() if d.source == p.emu_disk), None) if config else None
    yield check(
        "emu-disk-bus",
        f"its disk {Path(p.emu_disk).name} is on the emulated IDE bus",
        emu_disk is not None and emu_disk.bus == "ide",
        expected=f"{Path(p.emu_disk).name} on bus ide (target hda)",
        actual=f"{Path(p.emu_disk).name} on bus {emu_disk.bus} (target {emu_disk.target})"
        if emu_disk
        else _devices(config),
        hint="<target dev='hda' bus='ide'/>, and drop the disk's PCI <address>: IDE disks have drive addresses",
    )
    emu_nics = [i for i in config.interfaces() if i.source_network == p.network] if config else []
    yield check(
        "emu-nic-model",
        f"its NIC on {p.network} is an emulated Intel e1000",
        any(i.model == "e1000" for i in emu_nics),
        expected=f"model e1000 on network {p.network}",
        actual=_devices(config),
        hint=f"<interface type='network'><source network='{p.network}'/><model type='e1000'/></interface>",
    )
    yield check(
        "emu-running",
        f"{p.emu_domain} is running",
        emu.is_running,
        expected="running",
        actual=emu.state,
        hint=f"virsh start {p.emu_domain}",
    )

    # What each guest kernel itself sees, asked through its agent.
    pv_guest = _answering(pv)
    pv_blocks = pv_guest.block_devices() if pv_guest else {}
    pv_macs = {i.mac.lower() for i in pv_nics if i.mac}
    pv_seen = pv_guest.nics() if pv_guest else {}
    yield check(
        "pv-guest-sees-devices",
        f"inside {p.pv_domain}: the virtio disk is vda and virtio_net made a NIC",
        "vda" in pv_blocks and bool(pv_macs & set(pv_seen)),
        expected=f"vda, and an interface with MAC {', '.join(sorted(pv_macs)) or '?'}",
        actual=f"disks {', '.join(sorted(pv_blocks)) or 'none'}; NICs "
        + (", ".join(f"{n} ({m})" for m, n in pv_seen.items()) or "none")
        if pv_guest
        else f"the guest does not answer ({pv.state})",
        hint=f"kvmlab lab reset virt-basics rebuilds {p.pv_domain}",
    )

    emu_guest = _answering(emu)
    blocks = emu_guest.block_devices() if emu_guest else {}
    disks = sorted(n for n in blocks if not n[-1].isdigit())
    yield check(
        "emu-guest-sees-ide-disk",
        f"inside {p.emu_domain}: the disk is sda (ata_piix, the emulated PIIX IDE controller), no vda",
        "sda" in disks and not any(n.startswith("vd") for n in disks),
        expected="sda, no vd*",
        actual=f"disks {', '.join(disks) or 'none'}" if emu_guest else f"the guest does not answer ({emu.state})",
        hint="vda means a virtio disk: put the disk on bus ide; no answer means the guest is not (yet) up",
    )
    pci = emu_guest.pci_devices() if emu_guest else []
    e1000 = [d for d in pci if d.id == E1000_PCI_ID]
    seen_nics = emu_guest.nics() if emu_guest else {}
    yield check(
        "emu-guest-sees-e1000",
        f"inside {p.emu_domain}: an e1000 ({E1000_PCI_ID}) sits on the guest's PCI bus",
        bool(e1000),
        expected=f"PCI {E1000_PCI_ID}",
        actual=(
            f"PCI {E1000_PCI_ID} at {e1000[0].slot}, driver {e1000[0].driver or 'none'}; "
            f"interfaces {', '.join(seen_nics.values()) or 'none'}"
            if e1000
            else f"PCI {', '.join(d.id for d in pci) or 'nothing'}"
        )
        if emu_guest
        else f"the guest does not answer ({emu.state})",
        hint="1af4:1000 is a virtio NIC: set <model type='e1000'/>",
    )
