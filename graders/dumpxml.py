"""Checks of the dumpxml lab (seed questions 10-12): what the persistent XML of each object says.

Each object the trainee edits is also compared with its definition when the
lab started (recorded by lab start): the asked edit must be the only one.
"""

from __future__ import annotations

from kvmlab.grading import Check, Checks, check, step
from kvmlab.host import Host
from kvmlab.labs.dumpxml import DumpXmlParams

# What each task changes (its own checks look at it): left out of the "unchanged" comparison.
DOMAIN_ASKED = ("memory", "currentMemory", "vcpu", "description")
NETWORK_ASKED = ("ip/dhcp/range",)
POOL_ASKED = ("@type", "target/path")  # the pool-defined check's business
# What libvirt writes into a pool's definition on its own: its UUID, its sizes (read from the
# filesystem), an empty <source> and the directory's owner, group and mode.
POOL_FILLED = ("uuid", "capacity", "allocation", "available", "source", "target/permissions")


def _owner_only_writes(mode: str) -> bool:
    """A pool directory's mode as pool-build (0711) or mkdir (0755) makes it: nobody but its owner writes."""
    try:
        return not int(mode, 8) & 0o022
    except ValueError:
        return False


def _mib(kib: int | None) -> str:
    return "none" if kib is None else f"{kib / 1024:g} MiB"


@step(
    1,
    "Change the domain's memory, vCPUs and description, and redefine it",
    hints=(
        "A domain is an XML document. Its persistent definition changes only when libvirt is given new XML "
        "(dump it, edit it, define it again); <memory> is the ceiling, <currentMemory> what the guest boots with, "
        "and <vcpu>'s text the maximum. Change nothing else.",
        "virsh dumpxml DOMAIN > FILE; edit <memory>, <currentMemory>, <vcpu> and <description> in FILE; "
        "virsh define FILE (virsh edit DOMAIN does all three)",
    ),
    zh="修改域的内存、vCPU 和描述，然后重新定义它",
    hints_zh=(
        "域就是一份 XML 文档。只有把新的 XML 交给 libvirt（导出、编辑、重新定义），它的持久化定义才会改变；"
        "<memory> 是上限，<currentMemory> 是虚拟机启动时的内存，<vcpu> 的文本是最大值。其他内容一律不改。",
        "virsh dumpxml DOMAIN > FILE；在 FILE 中编辑 <memory>、<currentMemory>、<vcpu> 和 <description>；virsh "
        "define FILE（virsh edit DOMAIN 一步就能完成这三件事）",
    ),
)
def domain(host: Host, p: DumpXmlParams) -> Checks:
    # The persistent definition is what `virsh define` changes; for a running
    # guest `virsh dumpxml` shows the live one, `--inactive` this one.
    config = host.domain(p.domain).config
    missing = f"no persistent domain {p.domain}"
    want_kib = p.memory_mib * 1024
    yield check(
        "domain-memory",
        f"{p.domain}'s maximum memory (<memory>) is {p.memory_mib} MiB",
        config is not None and config.memory_kib == want_kib,
        expected=_mib(want_kib),
        actual=_mib(config.memory_kib) if config else missing,
        hint="the persistent definition still has the old <memory>: editing a dumped file changes nothing "
        "until libvirt is given it again",
        zh=f"{p.domain} 的最大内存（<memory>）为 {p.memory_mib} MiB",
        hint_zh="持久化定义中仍是旧的 <memory>：编辑导出的文件不会改变任何东西，除非把它再交给 libvirt",
    )
    yield check(
        "domain-current-memory",
        f"{p.domain} boots with {p.memory_mib} MiB (<currentMemory>)",
        config is not None and config.current_memory_kib == want_kib,
        expected=_mib(want_kib),
        actual=_mib(config.current_memory_kib) if config else missing,
        hint="<memory> is only the ceiling; the guest starts with <currentMemory> "
        "(the balloon holds back the rest): set both",
        zh=f"{p.domain} 启动时的内存为 {p.memory_mib} MiB（<currentMemory>）",
        hint_zh="<memory> 只是上限；虚拟机启动时用的是 <currentMemory>（多出的部分被气球驱动扣着）：两个都要设置",
    )
    current, ceiling = (config.vcpu_current, config.vcpu_max) if config else (None, None)
    yield check(
        "domain-vcpus",
        f"{p.domain} boots with {p.vcpus} vCPUs",
        current == p.vcpus,
        expected=f"<vcpu current='{p.vcpus}'>{p.vcpus}</vcpu> (or a higher maximum)",
        actual=f"{current} of at most {ceiling}" if config else missing,
        hint="<vcpu>N</vcpu> is the maximum; the current='M' attribute, when present, is what the guest boots with",
        zh=f"{p.domain} 启动时有 {p.vcpus} 个 vCPU",
        hint_zh="<vcpu>N</vcpu> 是最大值；如果有 current='M' 属性，它才是虚拟机启动时的 vCPU 数",
    )
    desc = config.description if config else None
    yield check(
        "domain-description",
        f"{p.domain} has the description {p.description!r}",
        desc == p.description,
        expected=p.description,
        actual=desc if desc is not None else (missing if config is None else "no <description>"),
        hint="a domain's free-text description is its <description> element, directly under <domain>",
        zh=f"{p.domain} 的描述为 {p.description!r}",
        hint_zh="域的自由文本描述就是 <description> 元素，直接位于 <domain> 之下",
    )
    changes = host.recorded_definitions(p.start_record).changes("domain", config, asked=DOMAIN_ASKED)
    yield _unchanged(
        "domain-unchanged",
        f"nothing else in {p.domain}'s definition changed (name, UUID, disks, devices...)",
        changes.unchanged,
        changes.summary(),
        hint="only memory, vCPUs and the description were asked: the rest of the definition must stay as it "
        "was. Redefining a dump of a running guest bakes its runtime details into the definition "
        "(that is what --inactive is for); a new UUID makes it another domain",
        zh=f"{p.domain} 的定义中其他内容都没有变（名字、UUID、磁盘、设备……）",
        hint_zh="只要求改内存、vCPU 和描述：定义的其余部分必须保持原样。把运行中虚拟机导出的 XML 重新定义，"
        "会把它的运行时细节固化进定义里（--inactive 正是为此而设的）；换了 UUID，就成了另一个域",
    )


@step(
    2,
    "Narrow the network's DHCP range, and redefine it",
    hints=(
        "A network's definition is XML too: the DHCP range is the <range> inside <ip><dhcp>; the file you "
        "edit is only a copy, and libvirt reads it when you define it again. Change nothing else: the bridge, "
        "the addresses and the UUID stay.",
        "virsh net-dumpxml NETWORK > FILE; edit start= and end= of <range> in FILE; virsh net-define FILE "
        "(or virsh net-edit NETWORK)",
    ),
    zh="缩小网络的 DHCP 范围，然后重新定义它",
    hints_zh=(
        "网络的定义也是 XML：DHCP 范围就是 <ip><dhcp> 里的 <range>；你编辑的文件只是一份副本，重新定义时 libvirt "
        "才会读取它。其他内容一律不改：网桥、地址和 UUID 都保持不变。",
        "virsh net-dumpxml NETWORK > FILE；在 FILE 中编辑 <range> 的 start= 和 end=；virsh net-define FILE（或者 "
        "virsh net-edit NETWORK）",
    ),
)
def network(host: Host, p: DumpXmlParams) -> Checks:
    net = host.network(p.network)
    config = net.config if net.is_persistent else None
    ranges = [(r.start, r.end) for r in config.dhcp_ranges()] if config else []
    shown = ", ".join(f"{s}-{e}" for s, e in ranges) or "no DHCP range"
    yield check(
        "network-dhcp-range",
        f"{p.network}'s definition hands out {p.dhcp_start}-{p.dhcp_end}",
        ranges == [(p.dhcp_start, p.dhcp_end)],
        expected=f"{p.dhcp_start}-{p.dhcp_end}",
        actual=shown if config else f"no defined network {p.network}",
        hint="libvirt's definition still has the old range: editing the file alone changes nothing, "
        "libvirt has to be given it",
        zh=f"{p.network} 的定义分配的地址范围为 {p.dhcp_start}-{p.dhcp_end}",
        hint_zh="libvirt 的定义中仍是旧的范围：只编辑文件不会改变任何东西，必须把它交给 libvirt",
    )
    changes = host.recorded_definitions(p.start_record).changes("network", config, asked=NETWORK_ASKED)
    yield _unchanged(
        "network-unchanged",
        f"nothing else in {p.network}'s definition changed (bridge, addresses, UUID...)",
        changes.unchanged,
        changes.summary(),
        hint="only the DHCP range was asked: a renamed bridge, a new address or a new UUID is a different "
        "network to everything that uses this one",
        zh=f"{p.network} 的定义中其他内容都没有变（网桥、地址、UUID……）",
        hint_zh="只要求改 DHCP 范围：对所有用到这个网络的东西来说，改了网桥名、换了地址或者换了 UUID，就是另一个网络了",
    )


@step(
    3,
    "Define the directory pool, build it and start it",
    hints=(
        "A storage pool is an XML definition too. Defined, it is persistent (it survives a libvirtd restart); "
        "only created, it is transient. A dir pool's directory has to be made, and volumes exist only while "
        "the pool runs.",
        "virsh pool-define-as POOL dir --target PATH (or write the XML and virsh pool-define FILE), "
        "then virsh pool-build POOL and virsh pool-start POOL",
    ),
    zh="定义目录型存储池，构建并启动它",
    hints_zh=(
        "存储池也是一份 XML 定义。定义（define）出来的存储池是持久化的（libvirtd 重启后依然存在）；"
        "只是创建（create）出来的，则是临时的。dir 存储池的目录必须先建好，而且只有存储池运行时，卷才存在。",
        "virsh pool-define-as POOL dir --target PATH（或者写好 XML 后 virsh pool-define FILE），然后 virsh "
        "pool-build POOL 和 virsh pool-start POOL",
    ),
)
def pool(host: Host, p: DumpXmlParams) -> Checks:
    pool = host.pool(p.pool)
    config = pool.config
    kind, target = (config.type, config.target_path) if config else (None, None)
    yield check(
        "pool-defined",
        f"{p.pool} is a dir pool in {p.pool_path}",
        kind == "dir" and target == p.pool_path,
        expected=f"type dir, target {p.pool_path}",
        actual=f"type {kind}, target {target}" if config else f"no pool {p.pool}",
        hint="a dir pool is a directory of image files: its type is dir and its <target><path> is the "
        "directory (p.pool_path)",
        zh=f"{p.pool} 是位于 {p.pool_path} 的 dir 存储池",
        hint_zh="dir 存储池就是一个存放镜像文件的目录：类型为 dir，<target><path> 为该目录（p.pool_path）",
    )
    yield check(
        "pool-persistent",
        f"{p.pool} is defined, not only created (it survives a libvirtd restart)",
        pool.is_persistent,
        expected="persistent",
        actual="persistent" if pool.is_persistent else ("transient" if pool.exists else "missing"),
        hint="a pool that is only created is transient, gone once it stops: a pool has to be defined to persist",
        zh=f"{p.pool} 是定义出来的，而不只是创建出来的（libvirtd 重启后依然存在）",
        hint_zh="只创建的存储池是临时的，一停止就消失：存储池必须经过定义才能持久化",
    )
    yield check(
        "pool-active",
        f"{p.pool} is running",
        pool.is_active,
        expected="active",
        actual="active" if pool.is_active else ("inactive" if pool.exists else "missing"),
        hint="a defined pool is not running yet: its directory must exist (libvirt can make it) and the pool "
        "be started",
        zh=f"{p.pool} 正在运行",
        hint_zh="定义好的存储池还没有运行：它的目录必须存在（libvirt 可以代为创建），而且存储池必须启动",
    )
    changes = host.recorded_definitions(p.start_record).changes(
        "pool", config, asked=POOL_ASKED, filled=POOL_FILLED, accept={"target/permissions/mode": _owner_only_writes}
    )
    yield _unchanged(
        "pool-unchanged",
        f"{p.pool}'s definition holds only what was asked (and what libvirt fills in)",
        changes.unchanged,
        changes.summary(),
        hint="the task asked for a dir pool at its path and nothing more: anything else in the definition "
        "(a directory that others may write to, say) is a change nobody asked for",
        zh=f"{p.pool} 的定义中只有要求的内容（以及 libvirt 自动补充的内容）",
        hint_zh="任务只要求在指定路径建一个 dir 存储池，别无其他：定义中多出的任何东西（比如一个别人也能写的目录），"
        "都是没人要求的改动",
    )


@step(
    4,
    "Create the qcow2 volume in the pool",
    hints=(
        "A volume is an image in a pool, made through libvirt; in a dir pool it is a file, and its format "
        "is raw unless you say otherwise.",
        "virsh vol-create-as POOL NAME SIZE --format FORMAT",
    ),
    zh="在存储池中创建 qcow2 卷",
    hints_zh=(
        "卷是存储池中的镜像，通过 libvirt 创建；在 dir 存储池中，它就是一个文件，除非另行指定，格式为 raw。",
        "virsh vol-create-as POOL NAME SIZE --format FORMAT",
    ),
)
def volume(host: Host, p: DumpXmlParams) -> Checks:
    pool = host.pool(p.pool)
    vol = pool.volume(p.volume)
    names = ", ".join(pool.volume_names()) or "no volumes"
    fmt = vol.format if vol else None
    yield check(
        "volume-format",
        f"{p.pool} holds the {p.volume_format} volume {p.volume}",
        fmt == p.volume_format,
        expected=f"{p.volume} ({p.volume_format})",
        actual=f"{p.volume} ({fmt})" if vol else (names if pool.is_active else "pool not running"),
        hint="a volume's format is chosen when it is made, and a dir pool makes raw unless told otherwise",
        zh=f"{p.pool} 中有 {p.volume_format} 格式的卷 {p.volume}",
        hint_zh="卷的格式在创建时就确定了；除非另行指定，dir 存储池创建的都是 raw 格式",
    )
    size = vol.capacity if vol else None
    yield check(
        "volume-size",
        f"{p.volume} has a capacity of {p.volume_size_gib} GiB",
        size == p.volume_bytes,
        expected=f"{p.volume_bytes} bytes",
        actual=f"{size} bytes" if vol else "no volume",
        hint="the size given when a volume is made is its capacity (virsh vol-list POOL --details shows it)",
        zh=f"{p.volume} 的容量为 {p.volume_size_gib} GiB",
        hint_zh="创建卷时给出的大小就是它的容量（virsh vol-list POOL --details 可以看到）",
    )


def _unchanged(id: str, title: str, unchanged: bool, differences: str, hint: str, *, zh: str, hint_zh: str) -> Check:
    return check(
        id,
        title,
        unchanged,
        expected="the starting definition, apart from what was asked",
        actual=differences,
        hint=hint,
        zh=zh,
        hint_zh=hint_zh,
    )
