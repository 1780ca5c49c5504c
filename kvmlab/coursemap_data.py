"""The course map's data, in one table: per lab its objectives, a time estimate and its prerequisites.

The table's order is the course order (the notebooks' numbers: 01, 05, ... 26);
``tests/unit/test_coursemap.py`` fails when a registered lab has no entry,
when a prerequisite is not an earlier lab, or when an estimate drifts out of
the band its formula gives.

How the estimates were made (minutes, for a trainee doing the *practice*
edition, i.e. typing every command themselves):

    reading  = the English words of the notebook's Markdown cells / 150 words a minute
               (technical prose with commands to look at, read once)
    steps    = the grader's steps x 10 minutes (8-12: work out the command, type it,
               check, maybe a hint), 12 where a step is open-ended (break-fix, live-migration)
               and 8 where steps are one command each (storage-internals)
    waits    = +5 where the host makes you wait (each libguestfs run boots an appliance;
               KSM needs minutes to merge)

rounded to 5 minutes. The notebooks' own "*Time:* about N minutes" lines are
shorter because they time a reader who already knows the commands.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LabMeta:
    objectives: tuple[str, ...]  # 2-3 short lines: what the trainee can do afterwards
    objectives_zh: tuple[str, ...]
    minutes: int  # practice edition, see the module's docstring
    prerequisites: tuple[str, ...] = ()  # lab ids to do first (direct needs only, all earlier in COURSE)


# Words / steps behind each figure are in the comment on its line: reading + steps (+ waits).
COURSE: dict[str, LabMeta] = {
    "virt-basics": LabMeta(  # 1428 words, 3 steps: 9.5 + 30
        (
            "Tell full, para- and hardware-assisted virtualization apart",
            "Read which accelerator a guest really runs on (KVM or TCG)",
            "Compare what a virtio and an emulated guest see",
        ),
        (
            "分清全虚拟化、半虚拟化和硬件辅助虚拟化",
            "查出虚拟机实际用的加速器（KVM 还是 TCG）",
            "比较 virtio 虚拟机和全模拟设备虚拟机看到的硬件",
        ),
        40,
    ),
    "qemu-kvm": LabMeta(  # 1258 words, 3 steps: 8.4 + 30
        (
            "Make raw and qcow2 images with qemu-img",
            "Run a guest with QEMU by hand and ask it over QMP",
            "Run the same guest through libvirt",
        ),
        (
            "用 qemu-img 创建 raw 和 qcow2 镜像",
            "手工用 QEMU 启动虚拟机，并通过 QMP 查询它",
            "用 libvirt 运行同一台虚拟机",
        ),
        40,
        ("virt-basics",),
    ),
    "networks": LabMeta(  # 1065 words, 2 steps: 7.1 + 20
        (
            "Write and define isolated libvirt networks with DHCP ranges",
            "Start them on free subnets without touching libvirt's default",
        ),
        ("编写并定义带 DHCP 地址池的隔离网络", "在空闲网段上启动它们，不动 libvirt 的 default 网络"),
        25,
        ("virt-basics",),
    ),
    "libvirt-api": LabMeta(  # 1006 words, 4 steps: 6.7 + 40
        (
            "Do the same operations with virsh and with libvirt-python",
            "Autostart a guest and give it your own metadata",
            "Record lifecycle events with a callback",
        ),
        (
            "分别用 virsh 和 libvirt-python 完成同样的操作",
            "设置虚拟机开机自启，并写入自己的元数据",
            "用回调函数记录生命周期事件",
        ),
        45,
        ("virt-basics",),
    ),
    "sriov": LabMeta(  # 1298 words, 3 steps: 8.7 + 30
        (
            "Find the host's IOMMU groups and SR-IOV devices",
            "Define a hostdev network on a PF and give a guest an interface on it",
        ),
        ("找出宿主机的 IOMMU 组和 SR-IOV 设备", "在 PF 上定义 hostdev 网络，并给虚拟机加一个该网络上的网卡"),
        40,
        ("networks",),
    ),
    "bridges": LabMeta(  # 1137 words, 2 steps: 7.6 + 20
        (
            "Create a Linux bridge with ip link",
            "Plug a running guest's virtio NIC into it, live and persistent",
        ),
        ("用 ip link 创建 Linux 网桥", "把运行中虚拟机的 virtio 网卡接到网桥上（运行时和持久化都生效）"),
        30,
        ("networks",),
    ),
    "dumpxml": LabMeta(  # 1363 words, 4 steps: 9.1 + 40
        (
            "Dump, edit and redefine domain and network XML",
            "Define, build and start a directory pool and make a volume in it",
        ),
        ("导出、修改并重新定义虚拟机和网络的 XML", "定义、构建并启动目录存储池，在其中创建存储卷"),
        50,
        ("libvirt-api", "networks"),
    ),
    "offline-password": LabMeta(  # 1415 words, 2 steps: 9.4 + 20 + 5 (libguestfs appliance)
        (
            "Shut a guest down cleanly before touching its disk",
            "Change root's password inside the image with libguestfs",
        ),
        ("修改磁盘之前先正常关闭虚拟机", "用 libguestfs 离线修改镜像里 root 的密码"),
        35,
        ("qemu-kvm",),
    ),
    "p2v-v2v": LabMeta(  # 1717 words, 3 steps: 11.4 + 30
        (
            "Convert a VMware VMDK to a standalone qcow2",
            "Import it as a new guest with SPICE on loopback, and boot it",
        ),
        ("把 VMware 的 VMDK 转换成独立的 qcow2", "把它导入为新虚拟机（SPICE 只监听回环地址）并启动"),
        40,
        ("qemu-kvm",),
    ),
    "hotadd-disk": LabMeta(  # 802 words, 2 steps: 5.3 + 20
        (
            "Create a disk image of a given format and size",
            "Hot-add it to a running guest, live and persistent",
        ),
        ("按指定格式和大小创建磁盘镜像", "把它热添加到运行中的虚拟机（运行时和持久化都生效）"),
        25,
        ("qemu-kvm",),
    ),
    "hotadd-nic": LabMeta(  # 1440 words, 1 step: 9.6 + 10
        (
            "Hot-plug a virtio NIC on an isolated network, live and persistent",
            "Find its MAC inside the guest",
        ),
        ("把隔离网络上的 virtio 网卡热插到虚拟机（运行时和持久化都生效）", "在虚拟机内部找到它的 MAC 地址"),
        20,
        ("hotadd-disk", "networks"),
    ),
    "vcpu": LabMeta(  # 1201 words, 3 steps: 8.0 + 30
        (
            "Raise the vCPU maximum in the persistent definition",
            "Hot-add vCPUs live and persistent, online in the guest",
        ),
        ("在持久化定义里提高 vCPU 上限", "热添加 vCPU（运行时和持久化都生效），并在虚拟机里上线"),
        40,
        ("hotadd-disk",),
    ),
    "memory": LabMeta(  # 1217 words, 3 steps: 8.1 + 30
        (
            "Raise the maximum memory and power-cycle the guest",
            "Balloon a running guest, minding KiB against MiB",
        ),
        ("提高最大内存并给虚拟机断电重启", "用内存气球调整运行中虚拟机的内存，注意 KiB 和 MiB 的区别"),
        40,
        ("vcpu",),
    ),
    "linux-template": LabMeta(  # 1684 words, 5 steps: 11.2 + 50 + 5 (libguestfs appliance)
        (
            "Seal a golden image and make it a read-only base",
            "Make qcow2 overlay clones with their own name, UUID and MAC",
            "Boot a clone",
        ),
        ("封装黄金镜像并把它设为只读的后端镜像", "用 qcow2 覆盖层做克隆，各有自己的名字、UUID 和 MAC", "启动一个克隆"),
        65,
        ("qemu-kvm", "offline-password"),
    ),
    "windows-template": LabMeta(  # 1502 words, 3 steps: 10.0 + 30
        (
            "Write a Windows template definition with virt-install",
            "Add virtio-win drivers, Hyper-V enlightenments and localtime",
        ),
        ("用 virt-install 编写 Windows 模板的定义", "加上 virtio-win 驱动、Hyper-V 优化和本地时间时钟"),
        40,
        ("linux-template",),
    ),
    "performance": LabMeta(  # 1628 words, 5 steps: 10.9 + 50
        (
            "Benchmark raw against qcow2 and preallocation modes",
            "Pin vCPUs and emulator threads; add an IOThread and multiqueue virtio-scsi",
            "Define a guest backed by huge pages",
        ),
        (
            "对比 raw、qcow2 和各种预分配模式的性能",
            "绑定 vCPU 和模拟器线程；添加 IOThread 和多队列 virtio-scsi",
            "定义使用大页内存的虚拟机",
        ),
        60,
        ("vcpu", "memory"),
    ),
    "snapshots": LabMeta(  # 1459 words, 5 steps: 9.7 + 50
        (
            "Back up a running guest with an external, quiesced snapshot",
            "Merge it back with blockcommit and pull a template with blockpull",
            "Build and revert a tree of internal snapshots",
        ),
        (
            "用外部静默快照在线备份运行中的虚拟机",
            "用 blockcommit 合并回去，用 blockpull 脱离模板",
            "建立内部快照树并回滚",
        ),
        60,
        # Its guest is a template clone (a qcow2 overlay on a raw base), as the notebook says. The qcow2 internals
        # of storage-internals (clusters, L1/L2) are not used here, so that lab is not a prerequisite.
        ("linux-template",),
    ),
    "storage-internals": LabMeta(  # 1302 words, 7 steps: 8.7 + 7 x 8 (one command each)
        (
            "Read a qcow2's clusters and tables; sparse files and preallocation",
            "Give space back with discard and fstrim",
            "Grow a running guest's disk with blockresize",
        ),
        (
            "读懂 qcow2 的簇和映射表；稀疏文件与预分配",
            "用 discard 和 fstrim 把空间还给宿主机",
            "用 blockresize 在线扩容运行中虚拟机的磁盘",
        ),
        65,
        ("hotadd-disk",),
    ),
    "live-migration": LabMeta(  # 2331 words, 4 steps: 15.5 + 4 x 12 (open-ended)
        (
            "Migrate a running guest between two QEMUs over QMP, pre-copy then post-copy",
            "Migrate it live between two libvirtds with virsh migrate",
        ),
        (
            "用 QMP 在两个 QEMU 之间热迁移运行中的虚拟机：先预拷贝，再后拷贝",
            "用 virsh migrate 在两个 libvirtd 之间热迁移",
        ),
        65,
        ("qemu-kvm", "libvirt-api"),
    ),
    "break-fix": LabMeta(  # 1015 words, 2 steps: 6.8 + 2 x 12 (open-ended) + 5 (reading logs)
        (
            "Find why a guest will not run from its state, errors and logs",
            "Fix the cause, not a workaround",
        ),
        ("从状态、错误信息和日志找出虚拟机起不来的原因", "修复根因，而不是绕过去"),
        35,
        ("dumpxml", "linux-template"),
    ),
    "memory-virt": LabMeta(  # 1567 words, 3 steps: 10.4 + 30 + 5 (KSM merges slowly)
        (
            "Tell shadow page tables, EPT/NPT and TCG's softmmu apart on this host",
            "Make identical guests share memory with KSM and measure it",
        ),
        ("在本机上分清影子页表、EPT/NPT 和 TCG 的软件 MMU", "用 KSM 让相同的虚拟机共享内存，并测量节省了多少"),
        45,
        ("memory",),
    ),
}
