"""Checks of the windows-template lab (seed question 20).

Everything is read from the persistent definition (``dumpxml --inactive``)
and from the template disk: the domain is never started here.
"""

from __future__ import annotations

from kvmlab.grading import Checks, check, step
from kvmlab.host import DomainXML, Host
from kvmlab.labs.windows_template import WindowsParams

SYSTEM_DISK_BUSES = ("virtio", "sata")
LOOPBACK = ("127.0.0.1", "::1", "localhost")
SPINLOCK_RETRIES = 8191


def _gib(n: int | None) -> str:
    return "none" if n is None else f"{n / 1024**3:g} GiB"


def _mib(kib: int | None) -> str:
    return "none" if kib is None else f"{kib / 1024:g} MiB"


@step(
    1,
    "Create the template disk",
    hints=(
        "The template's system disk is an image whose format and virtual size are fixed when it is made; "
        "Windows Server 2008 R2 needs 32 GB at least, and a qcow2 file stays small until Windows writes.",
        "qemu-img create -f FORMAT PATH SIZE",
    ),
    zh="创建模板磁盘",
    hints_zh=(
        "模板的系统盘是一个镜像，它的格式和虚拟大小在创建时就定下来了；Windows Server 2008 R2 至少需要 32 GB，"
        "而 qcow2 文件在 Windows 写入之前一直很小。",
        "qemu-img create -f FORMAT PATH SIZE",
    ),
)
def disk(host: Host, p: WindowsParams) -> Checks:
    info = host.image(p.disk).info()
    fmt = info.format if info else None
    size = info.virtual_size if info else None
    yield check(
        "template-disk",
        f"the template disk is {p.disk_format}, {p.disk_size_gib} GiB",
        fmt == p.disk_format and size == p.disk_size_gib * 1024**3,
        expected=f"{p.disk_format}, {p.disk_size_gib} GiB",
        actual=f"{fmt}, {_gib(size)}" if info else "missing",
        hint="an image's format and virtual size are chosen when it is made (qemu-img info shows both)",
        zh=f"模板磁盘为 {p.disk_format} 格式，{p.disk_size_gib} GiB",
        hint_zh="镜像的格式和虚拟大小在创建时选定（qemu-img info 会同时显示两者）",
    )


@step(
    2,
    "Write the template's definition with virt-install and define it",
    hints=(
        "An administrator writes the template's definition before the DVD goes in: virt-install --print-xml writes "
        "it without creating or starting anything, and defining it makes the domain persistent (creating would start "
        "a transient one). Windows wants Hyper-V enlightenments, its hardware clock in local time with a paravirtual "
        "clock source, and a SPICE display (QXL video) that only the host can reach.",
        "virt-install --print-xml --name NAME --os-variant win2k8r2 --memory MIB --vcpus N --disk path=DISK,format=F,"
        "bus=virtio --disk device=cdrom,bus=sata (twice) --features hyperv... --clock offset=localtime,... "
        "--graphics spice,listen=ADDRESS --video qxl ... > FILE; virsh define FILE",
    ),
    zh="用 virt-install 写出模板的定义，并定义它",
    hints_zh=(
        "管理员在放入安装光盘之前就写好模板的定义：virt-install --print-xml 只输出定义，不创建、不启动任何东西；"
        "定义（define）它让域持久化（create 则会启动一个临时域）。Windows 需要 Hyper-V 优化、按本地时间走的硬件时钟"
        "加上一个半虚拟化时钟源，以及只有宿主机能访问的 SPICE 显示（QXL 显卡）。",
        "virt-install --print-xml --name NAME --os-variant win2k8r2 --memory MIB --vcpus N --disk path=DISK,format=F,"
        "bus=virtio --disk device=cdrom,bus=sata（两次） --features hyperv... --clock offset=localtime,... "
        "--graphics spice,listen=ADDRESS --video qxl ... > FILE；virsh define FILE",
    ),
)
def define(host: Host, p: WindowsParams) -> Checks:
    # One step, read in three sections: the domain itself, its display, and what Windows needs.
    vm = host.domain(p.domain)
    config = vm.config
    yield check(
        "template-defined",
        f"{p.domain} is defined (persistent) and not running",
        config is not None and not vm.is_running,
        expected="defined, shut off",
        actual="not defined" if config is None else vm.state,
        hint="a template is defined, never started here: a domain created from XML is transient and runs at once",
        zh=f"{p.domain} 已定义（持久化）且没有运行",
        hint_zh="模板只定义，在这里从不启动：用 XML 创建（create）的域是临时的，而且会立即运行",
    )
    yield from _machine(p, config)
    yield from _display(p, config)
    yield from _windows_settings(p, config)


def _machine(p: WindowsParams, config: DomainXML | None) -> Checks:
    memory = config.memory_kib if config else None
    current = config.current_memory_kib if config else None
    vcpus = config.vcpu_current if config else None
    want_kib = p.memory_mib * 1024
    yield check(
        "template-resources",
        f"it gets {p.memory_mib} MiB of memory and {p.vcpus} vCPUs",
        memory == want_kib and current == want_kib and vcpus == p.vcpus,
        expected=f"{_mib(want_kib)} (maximum and at boot), {p.vcpus} vCPUs",
        actual=f"{_mib(memory)} maximum, {_mib(current)} at boot, {vcpus} vCPUs" if config else "not defined",
        hint="left out, memory and vCPUs are the OS variant's defaults, not what this template was asked to have",
        zh=f"它有 {p.memory_mib} MiB 内存和 {p.vcpus} 个 vCPU",
        hint_zh="不写的话，内存和 vCPU 用的是该 OS 版本的默认值，而不是这个模板要求的值",
    )
    disks = config.disks() if config is not None else []
    system = next((d for d in disks if d.device == "disk" and d.source == p.disk), None)
    yield check(
        "system-disk",
        f"the template disk is attached as {p.disk_format} on virtio or SATA",
        system is not None and system.bus in SYSTEM_DISK_BUSES and system.format == p.disk_format,
        expected=f"{p.disk} on virtio (or sata), driver type {p.disk_format}",
        actual="not attached" if system is None else f"{system.target} on {system.bus}, driver type {system.format}",
        hint="the system disk is the template disk, opened in its real format, on a bus Windows can be given a "
        "driver for: 2008 R2 has no in-box virtio driver (setup loads viostor from the virtio-win CD); SATA needs none",
        zh=f"模板磁盘以 {p.disk_format} 格式挂在 virtio 或 SATA 上",
        hint_zh="系统盘就是模板磁盘，要按它真实的格式打开，并挂在 Windows 能装上驱动的总线上："
        "2008 R2 没有自带的 virtio "
        "驱动（安装程序从 virtio-win 光盘加载 viostor）；SATA 则不需要额外的驱动",
    )


def _display(p: WindowsParams, config: DomainXML | None) -> Checks:
    video = config.video_model if config is not None else None
    yield check(
        "video-qxl",
        "the video card is QXL (the SPICE-aware one)",
        video == "qxl",
        expected="qxl",
        actual=video or "none",
        hint="SPICE works best with the video card that speaks it (and its driver from virtio-win inside Windows)",
        zh="显卡是 QXL（支持 SPICE 的那种）",
        hint_zh="SPICE 配上支持它的显卡效果最好（Windows 里还要装 virtio-win 中对应的驱动）",
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
        hint="a SPICE port on every address, without TLS or a password, gives anyone the console: listen on "
        "loopback and reach it through an SSH tunnel",
        zh="显示协议是 SPICE，并且只监听 127.0.0.1",
        hint_zh="SPICE 端口监听在所有地址上、又没有 TLS 和密码，任何人都能拿到控制台：只监听回环地址，"
        "通过 SSH 隧道访问",
    )


def _windows_settings(p: WindowsParams, config: DomainXML | None) -> Checks:
    hyperv = config.hyperv_features() if config is not None else {}
    retries = config.hyperv_spinlock_retries if config is not None else None
    wanted = {"relaxed": "on", "vapic": "on", "spinlocks": "on"}
    yield check(
        "hyperv",
        f"Hyper-V enlightenments: relaxed, vapic, spinlocks (retries {SPINLOCK_RETRIES})",
        all(hyperv.get(name) == state for name, state in wanted.items()) and retries == SPINLOCK_RETRIES,
        expected=f"relaxed=on vapic=on spinlocks=on retries={SPINLOCK_RETRIES}",
        actual=" ".join(f"{name}={state}" for name, state in hyperv.items())
        + (f" retries={retries}" if retries else "")
        or "no <hyperv>",
        hint="Windows uses the paravirtual interfaces it knows from Hyper-V (relaxed timing, the virtual APIC, "
        "spinlock yields) only when the domain's <features> offers them",
        zh=f"Hyper-V 优化：relaxed、vapic、spinlocks（retries {SPINLOCK_RETRIES}）",
        hint_zh="只有当域的 <features> 提供了这些接口时，Windows 才会使用它在 Hyper-V 上熟悉的半虚拟化接口"
        "（relaxed 计时、虚拟 APIC、自旋锁让出）",
    )
    offset = config.clock_offset if config is not None else None
    yield check(
        "clock-localtime",
        "the guest clock starts at the host's local time (Windows keeps the RTC in local time)",
        offset == "localtime",
        expected="<clock offset='localtime'>",
        actual=f"offset={offset}" if offset else "no <clock>",
        hint="Windows reads the hardware clock as local time, Linux as UTC: with a UTC clock Windows shows the "
        "time shifted by the host's UTC offset",
        zh="虚拟机时钟从宿主机的本地时间开始（Windows 把 RTC 当作本地时间）",
        hint_zh="Windows 把硬件时钟当作本地时间，Linux 则当作 UTC：时钟用 UTC 时，"
        "Windows 显示的时间会差出宿主机的 UTC 时差",
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
        hint="Windows wants a paravirtual clock source it understands, and an RTC that delivers missed ticks late "
        "instead of falling behind when the host is busy: both are timers of the domain's <clock>",
        zh="hypervclock 已启用，RTC 会补上错过的时钟中断",
        hint_zh="Windows 需要一个它认识的半虚拟化时钟源，还需要一个在宿主机繁忙时把错过的中断补发出去、"
        "而不是越走越慢的 RTC："
        "两者都是域的 <clock> 里的定时器",
    )


@step(
    3,
    "Put the virtio-win driver ISO in the second CD-ROM",
    hints=(
        "Windows has no virtio drivers in the box: setup loads them from a CD while the install DVD sits in the "
        "first CD-ROM, the one the firmware boots. A medium goes into a drive of the persistent definition, "
        "which needs no file until the guest starts.",
        "virsh change-media DOMAIN TARGET ISO --insert plus the option that changes the persistent definition",
    ),
    zh="把 virtio-win 驱动 ISO 放进第二个光驱",
    hints_zh=(
        "Windows 系统自带的驱动里没有 virtio：安装程序从一张光盘加载它们，而安装光盘放在第一个光驱里，也就是固件启动的"
        "那个。介质放进的是持久化定义中的光驱，在虚拟机启动之前并不需要文件真的存在。",
        "virsh change-media DOMAIN TARGET ISO --insert，再加上修改持久化定义的选项",
    ),
)
def driver_cd(host: Host, p: WindowsParams) -> Checks:
    config = host.domain(p.domain).config
    cds = [d for d in config.disks() if d.device == "cdrom"] if config is not None else []
    shown = ", ".join(f"{d.target}: {d.source or 'empty tray'}" for d in cds) or "no CD-ROM"
    driver = next((d for d in cds if d.source == p.virtio_iso), None)
    yield check(
        "virtio-win-cd",
        "a CD-ROM holds the virtio-win driver ISO",
        driver is not None,
        expected=f"cdrom -> {p.virtio_iso}",
        actual=shown,
        hint="the drivers come on their own CD (the virtio-win ISO), inserted into the definition's second CD-ROM",
        zh="有一个光驱装着 virtio-win 驱动 ISO",
        hint_zh="驱动在单独的一张光盘（virtio-win ISO）上，要插入定义中的第二个光驱",
    )
    # The firmware boots the first CD-ROM (libvirt gives <boot dev='cdrom'/> to the first one): that is the
    # install DVD's, so the drivers must sit in another drive, behind it.
    first = cds[0] if cds else None
    yield check(
        "install-dvd-drive",
        "the first CD-ROM, the one the firmware boots, is left for the Windows DVD",
        first is not None and first.source != p.virtio_iso and len(cds) >= 2,
        expected="two CD-ROMs: the first for the install DVD (empty here), virtio-win in another",
        actual=shown,
        hint="the install DVD goes in the first CD-ROM (the one the firmware boots from); with the drivers there, "
        "or in the only drive, there is nothing to install from",
        zh="第一个光驱（固件从它启动）留给了 Windows 安装光盘",
        hint_zh="安装光盘放在第一个光驱里（固件从它启动）；驱动光盘如果占了它，或者只有一个光驱，就没有地方放安装盘了",
    )
