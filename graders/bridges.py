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
    zh="创建一个隔离的 Linux 网桥并启用它",
    hints_zh=(
        "Linux 网桥是宿主机内核中的软件交换机，用 iproute2 创建和查看（brctl 已被弃用）；处于 down 状态时，"
        "它什么都不转发。这个网桥只用来连接虚拟机：上面不配宿主机的 IP 地址，也不把宿主机的网卡（上联口）作为端口。",
        "ip link add name BRIDGE type bridge，然后 ip link set dev BRIDGE，再加上启用它的那个状态",
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
        zh=f"Linux 网桥 {p.bridge} 存在",
        hint_zh="实验按 p.bridge 中的名字查找网桥；iproute2 的 `ip link` 可以创建各种类型的链路，网桥也不例外",
    )
    yield check(
        "bridge-up",
        f"{p.bridge} is up",
        br.exists and br.is_up,
        expected="UP",
        actual=("UP" if br.is_up else "DOWN") if br.exists else gone,
        hint="a new link is created down, and a bridge that is down forwards nothing between its ports",
        zh=f"{p.bridge} 已启用（UP）",
        hint_zh="新建的链路默认处于 down 状态，而 down 状态的网桥不会在端口之间转发任何数据",
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
        zh=f"{p.bridge} 没有 IP 地址",
        hint_zh="这个网桥只连接虚拟机；只有当网桥要取代上联口时，宿主机自己的地址才应该配在网桥上（`ip address` "
        "可以看到上面配了什么）",
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
        zh=f"{p.bridge} 没有上联口：它的端口只有虚拟机网卡（tap）",
        hint_zh=f"把宿主机网卡加入 {p.bridge}，就会把网桥接进那块网卡所在的网络；`bridge link` "
        "列出每个端口及其所属网桥，把端口的 master 去掉，它就离开了网桥",
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
    zh="把运行中虚拟机的一块 virtio 网卡接到网桥上，运行时和持久化配置都要生效",
    hints_zh=(
        "libvirt 通过 tap 设备把虚拟机网卡接到已有的宿主机网桥上；网卡可以加到运行中的虚拟机上，"
        "也可以加到它的持久化定义里（这是单独的一份，下次启动时才读取），或者两边都加；网卡型号由你告诉 libvirt，"
        "不指定就是模拟的 rtl8139。",
        "virsh attach-interface DOMAIN --type bridge --source BRIDGE --model MODEL，"
        "再加上修改运行中虚拟机的选项和写入定义的选项（在同一条命令里）",
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
        zh=f"运行中的虚拟机有一块接在 {p.bridge} 上的网卡",
        hint_zh="运行中的虚拟机（libvirt 的运行时 XML，virsh domiflist）上没有接在网桥上的网卡：要改运行中的虚拟机，"
        "命令里就得明确这么说",
    )
    yield check(
        "nic-config",
        "the NIC is in the persistent definition (survives a restart)",
        config_nic is not None,
        expected=f"type bridge, source {p.bridge}, MAC {want_mac or 'as live'}",
        actual=f"MAC {config_nic.mac}" if config_nic else _nics(config),
        hint="a change made only to the running guest is gone after the next boot, and one made only to the "
        "definition waits for it; two separate commands make two NICs with two different MACs",
        zh="这块网卡在持久化定义中（重启后依然存在）",
        hint_zh="只改运行中的虚拟机，下次启动后修改就没了；只改定义，要等到下次启动才生效；分成两条命令做，"
        "会得到两块 MAC 不同的网卡",
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
        zh=f"这块网卡是半虚拟化的 {p.model} 网卡，运行中的虚拟机和定义中都是",
        hint_zh="虚拟机的每一份配置都记录着当时给定的型号；不指定型号时，libvirt 会选一块模拟网卡（rtl8139），"
        "它更慢，还需要虚拟机里不一定有的驱动",
    )
    plugged = vm.hotplugged(live_nic.alias) if live_nic is not None and live_nic.alias else None
    yield hot_plugged("nic-hotplugged", "the NIC", plugged, device_zh="这块网卡")
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
        zh=f"这块网卡的 tap 设备是 {p.bridge} 的一个端口（内核的视角）",
        hint_zh="网卡的 tap 设备叫什么，libvirt 说了算（virsh domiflist）；它是哪个网桥的端口，内核知道（`bridge "
        "link`、`ip link show master BRIDGE`）",
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
        zh="客户机内核看到了这块新网卡",
        hint_zh="到虚拟机里面去看（`ip link`）：如果虚拟机没有这块网卡的驱动（比如只有 virtio 驱动的虚拟机遇上 "
        "rtl8139），它根本不会出现",
    )
