"""Checks of the networks lab (seed question 6): four isolated networks, and libvirt's default left alone."""

from __future__ import annotations

from kvmlab.grading import Check, Checks, check, step
from kvmlab.host import Host
from kvmlab.labs.networks import NetSpec, NetworksParams


def _listing(problems: list[str]) -> str:
    return "; ".join(problems) or "all as asked"


def _wrong(n: NetSpec, what: str, have: object, asked: object) -> str:
    return f"{n.name}: {what} {have} (asked {asked})"


@step(
    1,
    "Write the four isolated networks' XML and define them",
    hints=(
        "One libvirt network per subnet: a bridge holding the subnet's .1 address, a DHCP range inside the "
        "subnet that leaves .1 out, a bridge name of your own, and no <forward> element (that is what makes it "
        "isolated). Defined, a network is persistent; created, it is transient.",
        "<network><name>NAME</name><bridge name='BRIDGE'/><ip address='GATEWAY' netmask='NETMASK'><dhcp>"
        "<range start='FIRST' end='LAST'/></dhcp></ip></network> in a file per network, then virsh net-define FILE",
    ),
    zh="编写四个隔离网络的 XML 并定义它们",
    hints_zh=(
        "每个网段一个 libvirt 网络：一个配着该网段 .1 地址的网桥，一个在网段之内、不包含 .1 的 DHCP "
        "地址范围，一个你自己起的网桥名，而且没有 <forward> 元素（正是这一点让它成为隔离网络）。"
        "定义（define）出来的网络是持久化的；创建（create）出来的是临时的。",
        "每个网络写一个文件：<network><name>NAME</name><bridge name='BRIDGE'/><ip address='GATEWAY' "
        "netmask='NETMASK'><dhcp><range start='FIRST' end='LAST'/></dhcp></ip></network>，然后 virsh "
        "net-define FILE",
    ),
)
def define(host: Host, p: NetworksParams) -> Checks:
    nets = {n.name: host.network(n.name) for n in p.nets}
    configs = {name: net.config if net.is_persistent else None for name, net in nets.items()}

    missing = [
        f"{n.name} {'is transient' if nets[n.name].exists else 'missing'}" for n in p.nets if not configs[n.name]
    ]
    yield check(
        "networks-defined",
        f"the networks {', '.join(n.name for n in p.nets)} are defined",
        not missing,
        expected=f"{len(p.nets)} persistent networks",
        actual=_listing(missing),
        hint="each network has to be defined, so that it persists: a network that is only created is transient, "
        "gone once it stops",
        zh=f"网络 {', '.join(n.name for n in p.nets)} 都已定义",
        hint_zh="每个网络都必须定义（define），这样才能持久存在：只是创建（create）出来的网络是临时的，一停止就没了",
    )

    defined = [(n, config) for n in p.nets if (config := configs[n.name]) is not None]
    subnets = host.subnets()
    bad_subnets = []
    for n, config in defined:
        subnet = subnets.defined(n.name)
        if config.ip_address != n.gateway or subnet != n.network:
            have = f"{config.ip_address}/{subnet.prefixlen if subnet else '?'}"
            bad_subnets.append(_wrong(n, "ip", have, f"{n.gateway}/{n.network.prefixlen}"))
    yield check(
        "subnets",
        "each network's bridge address is .1 of its subnet",
        not missing and not bad_subnets,
        expected=", ".join(f"{n.gateway}/{n.network.prefixlen}" for n in p.nets),
        actual=_listing(bad_subnets) if not missing else "not all defined",
        hint="the <ip> element gives the host's address on the bridge and, with the netmask, the subnet: "
        "a wrong netmask makes the network cover other subnets",
        zh="每个网络的网桥地址都是其网段的 .1",
        hint_zh="<ip> 元素给出宿主机在网桥上的地址，再加上子网掩码就确定了网段：子网掩码写错，网络就会覆盖别的网段",
    )

    bad_ranges = []
    for n, config in defined:
        ranges = [(r.start, r.end) for r in config.dhcp_ranges()]
        if ranges != [(n.dhcp_start, n.dhcp_end)]:
            shown = ", ".join(f"{s}-{e}" for s, e in ranges) or "none"
            bad_ranges.append(_wrong(n, "range", shown, f"{n.dhcp_start}-{n.dhcp_end}"))
    yield check(
        "dhcp-ranges",
        "each network hands out its asked DHCP range",
        not missing and not bad_ranges,
        expected=", ".join(f"{n.dhcp_start}-{n.dhcp_end}" for n in p.nets),
        actual=_listing(bad_ranges) if not missing else "not all defined",
        hint="the DHCP range sits inside <ip><dhcp>; it must not include the bridge's own address (.1), "
        "which dnsmasq would then hand to a guest",
        zh="每个网络分配的都是要求的 DHCP 地址范围",
        hint_zh="DHCP 地址范围写在 <ip><dhcp> 里；它不能包含网桥自己的地址（.1），否则 dnsmasq 会把它分给虚拟机",
    )

    bad_bridges = [_wrong(n, "bridge", config.bridge, n.bridge) for n, config in defined if config.bridge != n.bridge]
    yield check(
        "bridges",
        "each network has its own named bridge",
        not missing and not bad_bridges,
        expected=", ".join(f"{n.name}: {n.bridge}" for n in p.nets),
        actual=_listing(bad_bridges) if not missing else "not all defined",
        hint="a network names its bridge in its XML; without a name libvirt picks the next free virbrN",
        zh="每个网络都有自己命名的网桥",
        hint_zh="网络在自己的 XML 里指定网桥名；不指定的话，libvirt 会挑下一个空闲的 virbrN",
    )

    forwarding = []
    for n in p.nets:
        for view in (configs[n.name], nets[n.name].live):
            if view is not None and view.has_forward:
                forwarding.append(f"{n.name}: <forward mode='{view.forward_mode or 'nat'}'>")
                break
    yield check(
        "isolated",
        "no network forwards anywhere (no <forward> element)",
        not forwarding,
        expected="no <forward> in any of them",
        actual=_listing(forwarding),
        hint="an isolated network has no <forward>: guests reach each other and the host, nothing else; "
        "the definition has to lose the element",
        zh="没有任何网络向外转发（没有 <forward> 元素）",
        hint_zh="隔离网络没有 <forward>：虚拟机之间、虚拟机和宿主机之间能通，其他都不通；定义里必须去掉这个元素",
    )


@step(
    2,
    "Start the networks on free subnets, and leave the clashing one and libvirt's default alone",
    hints=(
        "Only one running network can own a subnet. libvirt's default network holds its subnet even while "
        "stopped (anyone may start it, and it usually autostarts); any other network holds one while it runs. "
        "Start yours where the subnet is free; the one whose subnet is held stays defined, stopped, without "
        "autostart; default is not yours to change.",
        "virsh net-start NAME for each network whose subnet is free; the other stays as net-define left it",
    ),
    zh="启动网段空闲的网络，不去动网段冲突的那个和 libvirt 的 default",
    hints_zh=(
        "一个网段只能被一个运行中的网络占用。libvirt 的 default "
        "网络即使停止也占着它的网段（谁都可能启动它，而且它通常开机自启）；其他网络只在运行时占用网段。"
        "网段空闲的就启动；网段被占用的那个保持已定义、未启动、不自启；default 不归你改。",
        "对每个网段空闲的网络执行 virsh net-start NAME；另一个保持 net-define 之后的样子",
    ),
)
def start(host: Host, p: NetworksParams) -> Checks:
    taken = host.subnets().clashes(p.wanted, p.default_network)
    held = {c.network for c in taken}
    to_run = [n for n in p.nets if n.name not in held]
    stopped = []
    for n in to_run:
        live = host.network(n.name).live  # the bridge libvirt really made (its name is the "bridges" check's)
        if live is None:
            stopped.append(f"{n.name} is not running")
        elif not (live.bridge and host.bridge(live.bridge).exists):
            stopped.append(f"{n.name} has no bridge {live.bridge} on the host")
    yield check(
        "active",
        "your networks on free subnets are running, each with its bridge on the host",
        not stopped,
        expected="running: " + (", ".join(n.name for n in to_run) or "none (every subnet is held by another network)"),
        actual=_listing(stopped),
        hint="a defined network is not running yet: starting it makes its bridge and its dnsmasq",
        zh="你那些网段空闲的网络都在运行，宿主机上也都有各自的网桥",
        hint_zh="已定义的网络还没有运行：启动它，才会创建它的网桥和 dnsmasq",
    )
    yield _no_overlap(host, p)

    bad = []
    for name in sorted(held):
        net = host.network(name)
        if net.is_active:
            bad.append(f"{name} is running")
        if net.is_autostart:
            bad.append(f"{name} is autostarted")
    yield check(
        "clash-handled",
        "a subnet another network holds (libvirt's default, or one running) is left to it: yours stays stopped",
        not bad,
        expected="; ".join(f"{c.network} defined, not running, no autostart ({c})" for c in taken)
        or "no clash on this host",
        actual=_listing(bad),
        hint=f"only one running network can own a subnet: your network on a held subnet must neither run nor "
        f"start at boot, and {p.default_network} is never yours to stop or change",
        zh="被别的网络（libvirt 的 default，或某个运行中的网络）占用的网段留给它：你的那个保持停止",
        hint_zh="一个网段只能被一个运行中的网络占用：你在被占用网段上的网络既不能运行，也不能开机自启；"
        f"{p.default_network} 永远轮不到你来停止或修改",
    )
    yield _default_untouched(host, p)


def _no_overlap(host: Host, p: NetworksParams) -> Check:
    active = host.subnets().running()
    ours = {n.name for n in p.nets}
    pairs = sorted(
        {
            " and ".join(sorted((a, b))) + f" ({active[a]} / {active[b]})"
            for a in ours & active.keys()
            for b in active
            if a != b and active[a].overlaps(active[b])
        }
    )
    return check(
        "no-overlap",
        "no two running networks share addresses",
        not pairs,
        expected="disjoint subnets",
        actual="; ".join(pairs) or "disjoint",
        hint="two bridges on overlapping subnets give the host two routes for the same addresses: "
        "libvirt refuses an identical subnet but not a wider netmask; fix the netmask",
        zh="没有两个运行中的网络共用地址",
        hint_zh="两个网桥的网段重叠，宿主机上就会有两条通往同一批地址的路由：libvirt 会拒绝完全相同的网段，"
        "但拦不住更宽的子网掩码；改正子网掩码",
    )


def _default_untouched(host: Host, p: NetworksParams) -> Check:
    # The snapshot is a file in the trainee's lab directory: read with the bounded reader, so a
    # broken one is this check failing with the reason, not the grader giving up.
    before, why = host.trainee_file(p.default_snapshot).json_object()
    changed = host.network_state(p.default_network).changed_since(before) if before is not None else []
    if before is None:
        actual = f"the snapshot taken at lab start ({p.default_snapshot}) cannot be read: {why}"
    else:
        actual = "changed: " + ", ".join(changed) if changed else "unchanged"
    return check(
        "default-untouched",
        f"libvirt's {p.default_network} network is exactly as it was before the lab",
        before is not None and not changed,
        expected="unchanged definition, state and autostart",
        actual=actual,
        hint=f"{p.default_network} is not yours: put it back as it was (its definition, running or not, autostart) "
        "and leave it alone; a broken snapshot comes back with `kvmlab lab reset networks`",
        zh=f"libvirt 的 {p.default_network} 网络和实验开始前完全一样",
        hint_zh=f"{p.default_network} 不属于你：把它恢复原样（定义、是否运行、是否自启），之后别再碰它；"
        "快照文件损坏的话，`kvmlab lab reset networks` 会重新生成",
    )
