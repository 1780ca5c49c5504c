"""Checks of the hotadd-nic lab (seed question 16)."""

from __future__ import annotations

from kvmlab.grading import AgentUnavailable, Checks, GuestTimeout, check, hot_plugged, same_in_both, step, wait_until
from kvmlab.host import DomainXML, Host, InterfaceXML
from kvmlab.labs.hotadd_nic import NicParams


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


@step(
    1,
    "Plug a virtio NIC into the running guest, live and persistent",
    hints=(
        "A NIC can be plugged into the running guest, written into the persistent definition (a separate copy, "
        "read at the next boot), or both; the NIC model and the MAC address are whatever libvirt is told, "
        "or its defaults (an emulated rtl8139, a random MAC).",
        "virsh attach-interface DOMAIN --type network --source NETWORK --model MODEL --mac MAC, plus the option "
        "that changes the running guest and the one that writes the definition",
    ),
    zh="给运行中的虚拟机插入一块 virtio 网卡，运行时和持久化配置都要改",
    hints_zh=(
        "网卡可以插进运行中的虚拟机，也可以写进持久化配置（另一份独立的副本，下次启动时读取），或者两者都做；"
        "网卡型号和 MAC 地址都由你告诉 libvirt，不告诉就用它的默认值（模拟的 rtl8139、随机生成的 MAC）。",
        "virsh attach-interface DOMAIN --type network --source NETWORK --model MODEL --mac MAC，"
        "再加上修改运行中虚拟机的选项和写入持久化配置的选项",
    ),
)
def attach(host: Host, p: NicParams) -> Checks:
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
        hint="the running guest (libvirt's live XML, virsh domiflist) has no NIC with that MAC on that network: "
        "a change meant for it has to say so, and without a MAC libvirt makes one up",
        zh=f"运行中的虚拟机有一块 MAC 为 {p.mac}、接在网络 {p.network} 上的网卡",
        hint_zh="运行中的虚拟机（libvirt 的运行时 XML，virsh domiflist）在这个网络上没有这个 MAC 的网卡："
        "要改运行中的虚拟机，命令里就得明确说明；不指定 MAC 时 libvirt 会随机生成一个",
    )
    yield check(
        "nic-config",
        "that NIC is in the persistent definition (survives a restart)",
        on_network(config_nic),
        expected=want,
        actual=_where(config_nic) if config_nic else _others(config, "no persistent definition"),
        hint="a change made only to the running guest is gone after the next boot: the persistent definition "
        "(virsh dumpxml --inactive) is a separate copy",
        zh="这块网卡已写入持久化配置（重启后仍在）",
        hint_zh="只改了运行中虚拟机的修改，下次启动后就没了：持久化配置（virsh dumpxml --inactive）是另一份独立的副本",
    )
    # Both views: a NIC hot-added as virtio but written to the definition without a model
    # comes back as libvirt's default (an emulated rtl8139) after the next boot.
    yield same_in_both(
        "nic-model",
        f"the NIC is a paravirtual {p.model} NIC, in the running guest and in the definition",
        vm.both(lambda xml: xml.interface(p.mac)),
        lambda nic: nic.model,
        p.model,
        hint="each view of the guest records the model it was given; without one libvirt picks an emulated NIC "
        "(rtl8139), slow and needing a driver the guest may not have",
        zh=f"这块网卡是半虚拟化的 {p.model} 网卡，运行中的虚拟机和持久化配置里都是如此",
        hint_zh="虚拟机的每份视图都只记录它被告知的型号；不指定时 libvirt 会选一块模拟网卡（rtl8139），"
        "速度慢，而且客户机里不一定有它的驱动",
    )
    plugged = vm.hotplugged(live_nic.alias) if live_nic is not None and live_nic.alias else None
    yield hot_plugged("nic-hotplugged", "the NIC", plugged, device_zh=f"网卡 {p.mac}")

    guest = vm.guest

    def macs() -> dict[str, str] | str:
        if guest is None:
            return "guest not running"
        try:
            return guest.nics()
        except (AgentUnavailable, GuestTimeout) as err:
            return f"the guest agent does not answer ({err.message})"

    # A NIC in the live XML reaches the guest kernel a moment later (PCI hot-plug): give it that moment.
    seen = wait_until(macs, lambda found: isinstance(found, dict) and p.mac in found, seconds=5 if live_nic else 0)
    yield check(
        "guest-sees-nic",
        f"the guest kernel has an interface with MAC {p.mac}",
        isinstance(seen, dict) and p.mac in seen,
        expected=p.mac,
        actual=_listed(seen),
        hint="look inside the guest (`ip link`; the agent: guest-network-get-interfaces): the guest needs a "
        "driver for the NIC model, and names its NICs eth0, eth1... in the order it finds them",
        zh=f"客户机内核有一个 MAC 为 {p.mac} 的网络接口",
        hint_zh="到客户机里看（`ip link`；通过 agent：guest-network-get-interfaces）：客户机需要这种网卡型号的驱动，"
        "并按发现的顺序把网卡命名为 eth0、eth1……",
    )
