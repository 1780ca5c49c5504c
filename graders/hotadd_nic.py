"""Checks of the hotadd-nic lab (seed question 16)."""

from __future__ import annotations

from collections.abc import Iterator

from kvmlab.errors import GuestTimeout
from kvmlab.grading import Check, check
from kvmlab.host import Host
from kvmlab.labs.hotadd_nic import NicParams
from kvmlab.resources.agent import AgentUnavailable, poll
from kvmlab.xmlviews import DomainXML, InterfaceXML


def _where(nic: InterfaceXML) -> str:
    return f"{nic.mac} on {nic.type} {nic.source_network or nic.source_bridge or nic.source_dev or '?'}"


def _others(xml: DomainXML | None, absent: str) -> str:
    if xml is None:
        return absent
    return "NICs: " + (", ".join(_where(n) for n in xml.interfaces()) or "none")


def _listed(seen: dict[str, str] | str) -> str:
    if isinstance(seen, str):
        return seen  # why the guest could not be asked
    return ", ".join(f"{name} {mac}" for mac, name in seen.items()) or "no NIC"


def checks(host: Host, p: NicParams) -> Iterator[Check]:
    vm = host.domain(p.domain)
    live, config = vm.live, vm.config
    live_nic = live.interface(p.mac) if live else None
    config_nic = config.interface(p.mac) if config else None
    want = f"{p.mac} on network {p.network}"

    def on_network(nic: InterfaceXML | None) -> bool:
        return nic is not None and nic.type == "network" and nic.source_network == p.network

    yield check(
        "nic-live",
        f"the running guest has a NIC {p.mac} on network {p.network}",
        on_network(live_nic),
        expected=want,
        actual=_where(live_nic) if live_nic else _others(live, "guest not running"),
        hint=f"virsh attach-interface {p.domain} --type network --source {p.network} --model {p.model} "
        f"--mac {p.mac} --live --config (without --mac libvirt makes up a random one)",
    )
    yield check(
        "nic-config",
        "that NIC is in the persistent definition (survives a restart)",
        on_network(config_nic),
        expected=want,
        actual=_where(config_nic) if config_nic else _others(config, "no persistent definition"),
        hint="--live alone is lost at the next boot: add --config",
    )
    nic = live_nic or config_nic
    yield check(
        "nic-model",
        f"the NIC is a paravirtual {p.model} NIC",
        nic is not None and nic.model == p.model,
        expected=p.model,
        actual=(nic.model or "none") if nic else "no such NIC",
        hint=f"pass --model {p.model}: without it libvirt gives an emulated rtl8139 (on e1000 or rtl8139 the "
        "guest needs those drivers, and the emulation is slow)",
    )

    guest = vm.guest

    def macs() -> dict[str, str] | str:
        if guest is None:
            return "guest not running"
        try:
            return guest.nics()
        except (AgentUnavailable, GuestTimeout) as err:
            return f"the guest agent does not answer ({err.message})"

    # A NIC in the live XML reaches the guest kernel a moment later (PCI hot-plug): give it that moment.
    seen = poll(macs, lambda found: isinstance(found, dict) and p.mac in found, seconds=5 if live_nic else 0)
    yield check(
        "guest-sees-nic",
        f"the guest kernel has an interface with MAC {p.mac}",
        isinstance(seen, dict) and p.mac in seen,
        expected=p.mac,
        actual=_listed(seen),
        hint="look inside the guest: `ip link` (the agent: guest-network-get-interfaces); the guest needs a "
        "driver for the NIC model, and names it eth0, eth1... in the order it finds them",
    )
