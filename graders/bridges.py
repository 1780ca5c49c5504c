"""Checks of the bridges lab (seed question 9): the bridge, the NIC on it, from libvirt's, the kernel's
and the guest's side."""

from __future__ import annotations

from collections.abc import Iterator

from kvmlab.grading import Check, check
from kvmlab.host import Host
from kvmlab.labs.bridges import BridgeParams
from kvmlab.resources.agent import poll
from kvmlab.resources.bridge import is_tap
from kvmlab.xmlviews import DomainXML, InterfaceXML


def _on_bridge(xml: DomainXML | None, bridge: str) -> InterfaceXML | None:
    """The guest's first NIC whose source is the bridge, whatever its MAC."""
    if xml is None:
        return None
    return next((i for i in xml.interfaces() if i.type == "bridge" and i.source_bridge == bridge), None)


def _nics(xml: DomainXML | None) -> str:
    if xml is None:
        return "no such definition"
    shown = [f"{i.type} {i.source_bridge or i.source_network or i.source_dev or ''} {i.mac}" for i in xml.interfaces()]
    return ", ".join(shown) or "no NICs"


def checks(host: Host, p: BridgeParams) -> Iterator[Check]:
    br = host.bridge(p.bridge)
    gone = f"there is no bridge {p.bridge}"
    yield check(
        "bridge-exists",
        f"the Linux bridge {p.bridge} exists",
        br.exists,
        expected=f"{p.bridge} (type bridge)",
        actual="present" if br.exists else gone,
        hint=f"ip link add name {p.bridge} type bridge",
    )
    yield check(
        "bridge-up",
        f"{p.bridge} is up",
        br.exists and br.is_up,
        expected="UP",
        actual=("UP" if br.is_up else "DOWN") if br.exists else gone,
        hint=f"ip link set dev {p.bridge} up: a bridge that is down forwards nothing between its ports",
    )
    addresses = br.addresses()
    yield check(
        "bridge-no-address",
        f"{p.bridge} has no IP address",
        br.exists and not addresses,
        expected="no address (link-local fe80:: aside)",
        actual=(", ".join(addresses) or "none") if br.exists else gone,
        hint=f"this bridge joins guests only; ip address flush dev {p.bridge} "
        "(the host's own address belongs on a bridge only when it replaces the uplink's)",
    )
    uplinks = [port for port in br.ports if not is_tap(port)]
    yield check(
        "bridge-no-uplink",
        f"{p.bridge} has no uplink: its only ports are guest NICs (taps)",
        br.exists and not uplinks,
        expected="only tap devices",
        actual=("non-tap ports: " + ", ".join(uplinks) if uplinks else ", ".join(br.ports) or "no ports")
        if br.exists
        else gone,
        hint=f"ip link set dev PORT nomaster; `bridge link` lists every port of {p.bridge}",
    )

    vm = host.domain(p.domain)
    live, config = vm.live, vm.config
    live_nic, config_nic = _on_bridge(live, p.bridge), _on_bridge(config, p.bridge)
    command = f"virsh attach-interface {p.domain} --type bridge --source {p.bridge} --model {p.model} --live --config"
    yield check(
        "nic-live",
        f"the running guest has a NIC on {p.bridge}",
        live_nic is not None,
        expected=f"type bridge, source {p.bridge}",
        actual=f"MAC {live_nic.mac}" if live_nic else (_nics(live) if live else "guest not running"),
        hint=f"attach it with --live: {command}",
    )
    want_mac = live_nic.mac if live_nic else None
    # With a live NIC, the persistent one must be the same NIC (same MAC), not a second one.
    same = config_nic is not None and (want_mac is None or (config_nic.mac or "").lower() == want_mac.lower())
    yield check(
        "nic-config",
        "the NIC is in the persistent definition (survives a restart)",
        same,
        expected=f"type bridge, source {p.bridge}, MAC {want_mac or 'as live'}",
        actual=f"MAC {config_nic.mac}" if config_nic else _nics(config),
        hint="--live alone is lost at the next boot; --config alone waits for it: use both in one command "
        "(two separate commands give two different MACs)",
    )
    nic = live_nic or config_nic
    yield check(
        "nic-model",
        f"the NIC is a paravirtual {p.model} NIC",
        nic is not None and nic.model == p.model,
        expected=p.model,
        actual=(nic.model or "libvirt's default") if nic else "no NIC on the bridge",
        hint=f"--model {p.model}; without it libvirt picks an emulated NIC (rtl8139) that is slower "
        "and needs a driver the guest may not have",
    )
    tap = live_nic.target_dev if live_nic else None
    yield check(
        "tap-enslaved",
        f"the NIC's tap device is a port of {p.bridge} (kernel's view)",
        tap is not None and br.has_port(tap),
        expected=f"{tap or 'vnetN'} in /sys/class/net/{p.bridge}/brif",
        actual=f"ports: {', '.join(br.ports) or 'none'}" if br.exists else gone,
        hint=f"`virsh domiflist {p.domain}` names the tap; `bridge link` or `ip link show master {p.bridge}` "
        "shows which bridge it is on",
    )

    guest = vm.guest
    # A NIC in the live XML reaches the guest kernel a moment later (PCI hot-plug, then the driver's probe);
    # under TCG on a busy host that can take seconds: wait for it rather than report a false red.
    seen = (
        poll(guest.nics, lambda found: want_mac.lower() in found, seconds=10)
        if guest is not None and want_mac
        else (guest.nics() if guest is not None else {})
    )
    yield check(
        "guest-sees-nic",
        "the guest kernel sees the new NIC",
        want_mac is not None and want_mac.lower() in seen,
        expected=f"an interface with MAC {want_mac or '(the NIC on the bridge)'}",
        actual=", ".join(f"{name} {mac}" for mac, name in seen.items()) or "no NICs in the guest",
        hint="`ip link` in the guest (virsh console); a NIC the guest has no driver for (e.g. rtl8139 "
        f"in a virtio-only guest) does not show up: use --model {p.model}",
    )
