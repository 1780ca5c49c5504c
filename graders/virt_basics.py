"""Checks of the virt-basics lab (seed questions 1-4)."""

from __future__ import annotations

from pathlib import Path

from kvmlab.grading import Checks, check, step, wait_until
from kvmlab.host import Domain, Host
from kvmlab.labs.virt_basics import BasicsParams

AGENT_WAIT = 5.0  # a guest started seconds ago may still be booting
# An e1000 as the guest's PCI bus reports it (vendor Intel, device 82540EM); 1af4 is virtio's vendor.
E1000_PCI_ID = "8086:100e"
NO_VERDICT = "no verdict on this host yet: `kvmlab doctor` decides it (by booting a guest) and caches it"


def _devices(vm: Domain) -> str:
    xml = vm.config
    if xml is None:
        return "not defined"
    disks = ", ".join(f"{d.target}:{d.bus}" for d in xml.disks()) or "no disk"
    nics = ", ".join(f"{i.model}@{i.source_network or i.type}" for i in xml.interfaces()) or "no NIC"
    return f"disks {disks}; NICs {nics}"


@step(
    1,
    "Record the accelerator guests really run on",
    hints=(
        "/dev/kvm existing is not KVM working: some hosts offer a /dev/kvm on which a normal guest kernel hangs. "
        "kvmlab decides by trying (it boots a guest under KVM, falls back to TCG) and caches its verdict.",
        "kvmlab doctor (or doctor --json, its accel field), then write that one word, kvm or tcg, into the verdict "
        "file",
    ),
    zh="记下虚拟机实际使用的加速器",
    hints_zh=(
        "/dev/kvm 存在不等于 KVM 能用：有些宿主机提供的 /dev/kvm，普通客户机内核在上面会卡死。kvmlab "
        "靠实际尝试来判断（用 KVM 启动一台虚拟机，不行就退回 TCG），并把结论缓存起来。",
        "运行 kvmlab doctor（或 doctor --json，看其中的 accel 字段），然后把那一个词（kvm 或 tcg）写进结论文件",
    ),
)
def verdict(host: Host, p: BasicsParams) -> Checks:
    decided = host.accel  # the cached verdict: deciding boots a guest, never done in the middle of a check
    written = host.trainee_file(p.verdict_file).word()
    yield check(
        "accel-verdict",
        f"your verdict on acceleration (in {p.verdict_file}) matches this host",
        decided is not None and written == decided.accel,
        expected=decided.accel if decided else NO_VERDICT,
        actual=written if written is not None else "no file",
        hint="read what kvmlab doctor decided and why: /dev/kvm existing does not mean KVM works; "
        "the file holds one word, kvm or tcg"
        if decided
        else "there is no verdict to compare with: run kvmlab doctor once, then check again",
        zh=f"你的加速结论（在 {p.verdict_file} 中）与本机一致",
        hint_zh="看看 kvmlab doctor 的结论和理由：/dev/kvm 存在并不代表 KVM 能用；文件里只写一个词：kvm 或 tcg"
        if decided
        else "还没有可以比较的结论：先运行一次 kvmlab doctor，再检查",
    )


@step(
    2,
    "Define a second guest with emulated devices",
    hints=(
        "Emulated devices imitate real hardware (an Intel PIIX IDE controller, an Intel e1000 NIC), so a stock "
        "driver works; paravirtual (virtio) devices exist only in VMs and need a virtio driver. A guest is its "
        "XML: a copy of the first guest's definition, changed, defines a second guest.",
        "virsh dumpxml --inactive PV_DOMAIN > FILE; in FILE change the name, drop <uuid>, <mac> and every "
        "<address>, point the disk at your image on bus ide (hda), set the NIC model to e1000, give it its own "
        "console log; then define it from FILE",
    ),
    zh="定义第二台使用模拟设备的虚拟机",
    hints_zh=(
        "模拟设备模仿真实硬件（Intel PIIX IDE 控制器、Intel e1000 网卡），所以系统自带的驱动就能用；"
        "半虚拟化（virtio）设备只存在于虚拟机里，需要 virtio 驱动。虚拟机就是它的 XML："
        "把第一台虚拟机的定义复制一份改一改，就能定义出第二台。",
        "virsh dumpxml --inactive PV_DOMAIN > FILE；在 FILE 里改名字，删掉 <uuid>、<mac> 和所有 "
        "<address>，把磁盘指向你的镜像并放到 ide 总线上（hda），网卡型号改成 e1000，给它单独的串口日志；"
        "然后用 FILE 定义它",
    ),
)
def emulated_guest(host: Host, p: BasicsParams) -> Checks:
    pv = host.domain(p.pv_domain)
    pv_config = pv.config
    pv_disk = pv_config.disk("vda") if pv_config else None
    pv_nics = [i for i in pv_config.interfaces() if i.source_network == p.network] if pv_config else []
    yield check(
        "pv-devices",
        f"{p.pv_domain} still has a virtio disk and a virtio NIC (the emulated guest is a new one)",
        pv_disk is not None and pv_disk.bus == "virtio" and any(i.model == "virtio" for i in pv_nics),
        expected=f"disks vda:virtio; NICs virtio@{p.network}",
        actual=_devices(pv),
        hint=f"the paravirtual guest came with the lab and stays as it is: edit a copy of its XML, not the guest "
        f"itself (kvmlab lab reset virt-basics rebuilds {p.pv_domain})",
        zh=f"{p.pv_domain} 仍然是 virtio 磁盘和 virtio 网卡（模拟设备的虚拟机是另建的一台）",
        hint_zh="半虚拟化虚拟机是实验自带的，要保持原样：要改的是它 XML 的副本，"
        f"而不是这台虚拟机本身（kvmlab lab reset virt-basics 会重建 {p.pv_domain}）",
    )

    decided = host.accel
    emu = host.domain(p.emu_domain)
    config = emu.config
    yield check(
        "emu-defined",
        f"{p.emu_domain} is defined (persistent)",
        config is not None,
        expected="defined",
        actual="defined" if config is not None else emu.state if emu.exists else "absent",
        hint="a guest that outlives its next stop needs a persistent definition, made from your XML file "
        "(a guest created straight from XML is transient)",
        zh=f"{p.emu_domain} 已定义（持久化）",
        hint_zh="要让虚拟机停止后依然存在，需要用你的 XML 文件做持久化定义（直接从 XML 创建的虚拟机是临时的）",
    )
    yield check(
        "emu-domain-type",
        f"its domain type uses this host's accelerator ({decided.domain_type if decided else 'undecided'})",
        config is not None and decided is not None and config.domain_type == decided.domain_type,
        expected=f"<domain type='{decided.domain_type}'>" if decided else NO_VERDICT,
        actual=f"<domain type='{config.domain_type}'>" if config is not None else "not defined",
        hint="type='kvm' needs a working /dev/kvm; type='qemu' is TCG, QEMU's software CPU",
        zh=f"它的域类型用的是本机的加速器（{decided.domain_type if decided else '尚未判定'}）",
        hint_zh="type='kvm' 需要一个能用的 /dev/kvm；type='qemu' 就是 TCG，即 QEMU 用软件模拟的 CPU",
    )
    emu_disk = next((d for d in config.disks() if d.source == p.emu_disk), None) if config else None
    yield check(
        "emu-disk-bus",
        f"its disk {Path(p.emu_disk).name} is on the emulated IDE bus",
        emu_disk is not None and emu_disk.bus == "ide",
        expected=f"{Path(p.emu_disk).name} on bus ide (target hda)",
        actual=f"{Path(p.emu_disk).name} on bus {emu_disk.bus} (target {emu_disk.target})"
        if emu_disk
        else _devices(emu),
        hint="a disk's <target> names its bus (IDE disks are hd*); an IDE disk has a drive address, not the "
        "PCI slot the virtio disk had",
        zh=f"它的磁盘 {Path(p.emu_disk).name} 挂在模拟的 IDE 总线上",
        hint_zh="磁盘的 <target> 决定它在哪条总线上（IDE 磁盘叫 hd*）；IDE 磁盘用的是驱动器地址，而不是原来 "
        "virtio 磁盘的 PCI 插槽",
    )
    emu_nics = [i for i in config.interfaces() if i.source_network == p.network] if config else []
    yield check(
        "emu-nic-model",
        f"its NIC on {p.network} is an emulated Intel e1000",
        any(i.model == "e1000" for i in emu_nics),
        expected=f"model e1000 on network {p.network}",
        actual=_devices(emu),
        hint="a NIC's <model> chooses the hardware the guest sees: virtio is the paravirtual one",
        zh=f"它接在 {p.network} 上的网卡是模拟的 Intel e1000",
        hint_zh="网卡的 <model> 决定客户机看到的是哪种硬件：virtio 是半虚拟化的那种",
    )


@step(
    3,
    "Boot it and compare what each guest sees",
    hints=(
        "libvirt's XML says what QEMU was asked for; the guest kernel says what it found: its disk names "
        "(vd* for virtio-blk, sd* for an IDE disk through ata_piix) and the PCI ids on its bus.",
        "start the emulated guest, then ask each guest (its agent) for /proc/partitions and its PCI devices",
    ),
    zh="启动它，对比两台虚拟机各自看到了什么",
    hints_zh=(
        "libvirt 的 XML 说的是向 QEMU 要了什么；客户机内核说的是它实际发现了什么："
        "它的磁盘名（virtio-blk 是 vd*，经 ata_piix 识别的 IDE 磁盘是 sd*）和它总线上的 PCI ID。",
        "启动模拟设备的虚拟机，然后通过 agent 询问每台虚拟机的 /proc/partitions 和 PCI 设备",
    ),
)
def compare(host: Host, p: BasicsParams) -> Checks:
    emu = host.domain(p.emu_domain)
    yield check(
        "emu-running",
        f"{p.emu_domain} is running",
        emu.is_running,
        expected="running",
        actual=emu.state,
        hint="a defined guest stays shut off until it is started",
        zh=f"{p.emu_domain} 正在运行",
        hint_zh="已定义的虚拟机在启动之前一直是关机状态",
    )

    # What each guest kernel itself sees, asked through its agent.
    pv = host.domain(p.pv_domain)
    pv_config = pv.config
    pv_nics = [i for i in pv_config.interfaces() if i.source_network == p.network] if pv_config else []
    # The guest's agent if the guest runs and answers, else None (a red row, never an exception).
    pv_guest = pv.guest
    pv_guest = pv_guest if pv_guest is not None and wait_until(pv_guest.ping, bool, AGENT_WAIT) else None
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
        zh=f"在 {p.pv_domain} 里：virtio 磁盘是 vda，virtio_net 创建了一个网卡",
        hint_zh=f"kvmlab lab reset virt-basics 会重建 {p.pv_domain}",
    )

    emu_guest = emu.guest
    emu_guest = emu_guest if emu_guest is not None and wait_until(emu_guest.ping, bool, AGENT_WAIT) else None
    blocks = emu_guest.block_devices() if emu_guest else {}
    disks = sorted(n for n in blocks if not n[-1].isdigit())
    yield check(
        "emu-guest-sees-ide-disk",
        f"inside {p.emu_domain}: the disk is sda (ata_piix, the emulated PIIX IDE controller), no vda",
        "sda" in disks and not any(n.startswith("vd") for n in disks),
        expected="sda, no vd*",
        actual=f"disks {', '.join(disks) or 'none'}" if emu_guest else f"the guest does not answer ({emu.state})",
        hint="vda means a virtio disk: the disk must be on the IDE bus; no answer means the guest is not (yet) up",
        zh=f"在 {p.emu_domain} 里：磁盘是 sda（ata_piix，模拟的 PIIX IDE 控制器），没有 vda",
        hint_zh="vda 说明是 virtio 磁盘：磁盘必须挂在 IDE 总线上；没有应答说明虚拟机还没（完全）起来",
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
        hint="1af4:1000 is a virtio NIC: the NIC's model decides which one the guest gets",
        zh=f"在 {p.emu_domain} 里：客户机的 PCI 总线上有一块 e1000（{E1000_PCI_ID}）",
        hint_zh="1af4:1000 是 virtio 网卡：客户机拿到哪种网卡，由网卡的型号（model）决定",
    )
