"""Checks of the bridges lab (seed question 9): the bridge, the NIC on it, from libvirt's, the kernel's
and the guest's side."""

from __future__ import annotations

from kvmlab.grading import AgentUnavailable, Checks, GuestTimeout, check, hot_plugged, same_in_both, step, wait_until
from kvmlab.host import DomainXML, Host, InterfaceXML
from kvmlab.labs.bridges import BridgeParams


def _on_bridge(xml: DomainXML | None, bridge: str, mac: str | None = None) -> InterfaceXML | None:
    """The guest's NIC on the bridge with that MAC, or its first one on the bridge when no MAC is given."""
    if xml is None:
        return None
    return next(
        (
            i
            for i in xml.interfaces()
            if i.type == "bridge" and i.source_bridge == bridge and (mac is None or (i.mac or "").lower() == mac)
        ),
        None,
    )


def _nics(xml: DomainXML | None) -> str:
    if xml is None:
        return "no such definition"
    shown = [f"{i.type} {i.source_bridge or i.source_network or i.source_dev or ''} {i.mac}" for i in xml.interfaces()]
    return ", ".join(shown) or "no NICs"


@step(
    1,
    "Create an isolated Linux bridge and switch it on",
    hints=(
        "A Linux bridge is a software switch in the host kernel, made and looked at with iproute2 (brctl is "
        "deprecated); it forwards nothing while it is down. This one joins guests only: no IP address of the "
        "host's on it, and no host NIC (uplink) as a port.",
        "ip link add name BRIDGE type bridge, then ip link set dev BRIDGE with the state that switches it on",
    ),
)
def bridge(host: Host, p: BridgeParams) -> Checks:
    br = host.bridge(p.bridge)
    gone = f"there is no bridge {p.bridge}"
    yield check(
        "bridge-exists",
        f"the Linux bridge {p.bridge} exists",
        br.exists,
        expected=f"{p.bridge} (type bridge)",
        actual="present" if br.exists else gone,
        hint="the lab looks for a bridge by the name in p.bridge; iproute2's `ip link` makes links of every type, "
        "bridges included",
    )
    yield check(
        "bridge-up",
        f"{p.bridge} is up",
        br.exists and br.is_up,
        expected="UP",
        actual=("UP" if br.is_up else "DOWN") if br.exists else gone,
        hint="a new link is created down, and a bridge that is down forwards nothing between its ports",
    )
    addresses = br.addresses()
    yield check(
        "bridge-no-address",
        f"{p.bridge} has no IP address",
        br.exists and not addresses,
        expected="no address (link-local fe80:: aside)",
        actual=(", ".join(addresses) or "none") if br.exists else gone,
        hint="this bridge joins guests only; the host's own address belongs on a bridge only when it replaces the "
        "uplink's (`ip address` shows what is on it)",
    )
    uplinks = [port for port in br.ports if not host.netdev(port).is_tap]
    yield check(
        "bridge-no-uplink",
        f"{p.bridge} has no uplink: its only ports are guest NICs (taps)",
        br.exists and not uplinks,
        expected="only tap devices",
        actual=("non-tap ports: " + ", ".join(uplinks) if uplinks else ", ".join(br.ports) or "no ports")
        if br.exists
        else gone,
        hint=f"a host NIC enslaved to {p.bridge} puts it on that NIC's network; `bridge link` lists every port and "
        "its bridge, and a port leaves a bridge when it gets no master",
    )


@step(
    2,
    "Plug a virtio NIC of the running guest into the bridge, live and persistent",
    hints=(
        "libvirt plugs a guest NIC into an existing host bridge through a tap device; the NIC can be added to the "
        "running guest, to its persistent definition (a separate copy, read at the next boot), or both, and its "
        "model is whatever libvirt is told, or an emulated rtl8139.",
        "virsh attach-interface DOMAIN --type bridge --source BRIDGE --model MODEL, plus the option that changes "
        "the running guest and the one that writes the definition (in one command)",
    ),
)
def nic(host: Host, p: BridgeParams) -> Checks:
    vm = host.domain(p.domain)
    live, config = vm.live, vm.config
    live_nic = _on_bridge(live, p.bridge)
    want_mac = (live_nic.mac or "").lower() or None if live_nic else None
    # With a live NIC, the persistent one must be the same NIC (same MAC), not a second one.
    config_nic = _on_bridge(config, p.bridge, want_mac)
    yield check(
        "nic-live",
        f"the running guest has a NIC on {p.bridge}",
        live_nic is not None,
        expected=f"type bridge, source {p.bridge}",
        actual=f"MAC {live_nic.mac}" if live_nic else (_nics(live) if live else "guest not running"),
        hint="the running guest (libvirt's live XML, virsh domiflist) has no NIC on the bridge: a change meant for "
        "it has to say so",
    )
    yield check(
        "nic-config",
        "the NIC is in the persistent definition (survives a restart)",
        config_nic is not None,
        expected=f"type bridge, source {p.bridge}, MAC {want_mac or 'as live'}",
        actual=f"MAC {config_nic.mac}" if config_nic else _nics(config),
        hint="a change made only to the running guest is gone after the next boot, and one made only to the "
        "definition waits for it; two separate commands make two NICs with two different MACs",
    )
    # Both views: a NIC hot-added as virtio but written to the definition without a model comes back as
    # libvirt's default (an emulated rtl8139) after the next boot.
    yield same_in_both(
        "nic-model",
        f"the NIC is a paravirtual {p.model} NIC, in the running guest and in the definition",
        vm.both(lambda xml: _on_bridge(xml, p.bridge, want_mac)),
        lambda found: found.model,
        p.model,
        hint="each view of the guest records the model it was given; without one libvirt picks an emulated NIC "
        "(rtl8139), slower and needing a driver the guest may not have",
    )
    plugged = vm.hotplugged(live_nic.alias) if live_nic is not None and live_nic.alias else None
    yield hot_plugged("nic-hotplugged", "the NIC", plugged)
    br = host.bridge(p.bridge)
    tap = live_nic.target_dev if live_nic else None
    yield check(
        "tap-enslaved",
        f"the NIC's tap device is a port of {p.bridge} (kernel's view)",
        tap is not None and br.has_port(tap),
        expected=f"{tap or 'vnetN'} in /sys/class/net/{p.bridge}/brif",
        actual=f"ports: {', '.join(br.ports) or 'none'}" if br.exists else f"there is no bridge {p.bridge}",
        hint="libvirt names the NIC's tap device (virsh domiflist); the kernel knows which bridge it is a port of "
        "(`bridge link`, `ip link show master BRIDGE`)",
    )

    guest = vm.guest

    def macs() -> dict[str, str] | str:
        if guest is None:
            return "guest not running"
        try:
            return guest.nics()
        except (AgentUnavailable, GuestTimeout) as err:
            return f"the guest agent does not answer ({err.message})"

    # A NIC in the live XML reaches the guest kernel a moment later (PCI hot-plug, then the driver's probe);
    # under TCG on a busy host that can take seconds: wait for it rather than report a false red.
    seen = wait_until(macs, lambda found: isinstance(found, dict) and want_mac in found, seconds=10 if want_mac else 0)
    yield check(
        "guest-sees-nic",
        "the guest kernel sees the new NIC",
        want_mac is not None and isinstance(seen, dict) and want_mac in seen,
        expected=f"an interface with MAC {want_mac or '(the NIC on the bridge)'}",
        actual=seen
        if isinstance(seen, str)
        else ", ".join(f"{name} {mac}" for mac, name in seen.items()) or "no NICs in the guest",
        hint="look inside the guest (`ip link`): a NIC the guest has no driver for (e.g. rtl8139 in a virtio-only "
        "guest) does not show up at all",
    )
