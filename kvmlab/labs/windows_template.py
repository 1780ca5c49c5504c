"""Lab: a Windows Server 2008 R2 template definition (seed question 20).

No Windows guest boots in this lab: kvmlab has no Windows media and no
licence and downloads nothing, and where KVM is unusable (TCG) an install
would take hours. So the trainee builds what an administrator defines
*before* installing: the template disk, the
virtio-win driver CD, Hyper-V enlightenments, a localtime clock with the
right timers, QXL video and SPICE on loopback. The domain is defined and
never started; the grader reads its persistent XML and the disk.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from kvmlab.errors import GuestNotBuilt
from kvmlab.labs.base import Lab, Params, lab
from kvmlab.labs.linux_template import dir_pool_xml
from kvmlab.procs import run
from kvmlab.toolkit import Toolkit

# Where Fedora/RHEL's virtio-win package installs the driver ISO. kvmlab
# downloads nothing, so it is usually absent: the CD-ROM points there, and the
# domain is never started, so libvirt never needs the file.
VIRTIO_WIN_ISO = "/usr/share/virtio-win/virtio-win.iso"
OS_VARIANT = "win2k8r2"
HYPERV = "hyperv.relaxed.state=on,hyperv.vapic.state=on,hyperv.spinlocks.state=on,hyperv.spinlocks.retries=8191"
CLOCK = "offset=localtime,rtc_tickpolicy=catchup,pit_tickpolicy=delay,hpet_present=no,hypervclock_present=yes"


@dataclass(frozen=True)
class WindowsParams(Params):
    domain: str
    disk: str  # the template's system disk
    disk_format: str
    disk_size_gib: int  # 2008 R2 needs 32 GB at least
    virtio_iso: str  # the driver CD (a placeholder path here)
    memory_mib: int
    vcpus: int
    spice_listen: str
    xml: str  # where the trainee writes the definition before `virsh define`
    pool: str  # a dir pool on the lab directory: virt-install makes one of its own for a directory without
    virt_type: str  # libvirt's domain type here: kvm, or qemu (TCG) where KVM is unusable
    uri: str


def _virt_type(kit: Toolkit) -> str:
    try:
        return kit.verdict.domain_type
    except GuestNotBuilt:
        # The verdict boots the lab guest, which this lab does not otherwise need: "qemu" defines on any host.
        return "qemu"


@lab(
    "windows-template",
    "A Windows Server 2008 R2 template definition (virtio-win, Hyper-V enlightenments, SPICE)",
    seed=(20,),
    requires=("libvirt",),
)
class WindowsTemplate(Lab):
    def params(self, kit: Toolkit) -> WindowsParams:
        domain = kit.name("win2008r2")
        return WindowsParams(
            domain=domain,
            disk=str(kit.path(f"{domain}.qcow2")),
            disk_format="qcow2",
            disk_size_gib=40,
            virtio_iso=VIRTIO_WIN_ISO,
            memory_mib=4096,
            vcpus=2,
            spice_listen="127.0.0.1",
            xml=str(kit.path(f"{domain}.xml")),
            pool=kit.name("winpool"),
            virt_type=_virt_type(kit),
            uri=kit.uri,
        )

    def start(self, kit: Toolkit) -> None:
        p = self.params(kit)
        kit.make_dir()
        pool = kit.define_pool(dir_pool_xml(p.pool, kit.lab_dir))
        if not pool.isActive():
            pool.create(0)
        kit.expect("file", p.disk)
        kit.expect("file", p.xml)
        kit.expect("domain", p.domain)

    def solve(self, kit: Toolkit) -> None:
        p = self.params(kit)
        run(["qemu-img", "create", "-q", "-f", p.disk_format, p.disk, f"{p.disk_size_gib}G"])
        xml = run(install_argv(p)).stdout
        Path(p.xml).write_text(xml)
        kit.virsh("define", p.xml)
        insert_driver_cd(kit, p)


def install_argv(
    p: WindowsParams,
    *,
    listen: str | None = None,
    os_variant: str = OS_VARIANT,
    features: str | None = HYPERV,
    clock: str | None = CLOCK,
    disk_format: str | None = None,
    resources: bool = True,
) -> list[str]:
    """virt-install --print-xml: the definition only, nothing created or started."""
    argv = [
        "virt-install", "--connect", p.uri, "--print-xml", "--virt-type", p.virt_type,
        "--name", p.domain, "--os-variant", os_variant,
        "--disk", f"path={p.disk},format={disk_format or p.disk_format},bus=virtio",
        "--disk", "device=cdrom,bus=sata",  # the Windows DVD goes here: empty tray
        "--disk", "device=cdrom,bus=sata",  # the virtio-win driver CD (inserted by change-media)
        "--graphics", f"spice,listen={listen or p.spice_listen}",
        "--video", "qxl",
        "--network", "none",
        "--boot", "hd,cdrom",
        "--import", "--noautoconsole",
    ]  # fmt: skip
    if resources:  # left out, virt-install takes the OS variant's recommended memory and vCPUs
        argv += ["--memory", str(p.memory_mib), "--vcpus", str(p.vcpus)]
    if features:
        argv += ["--features", features]
    if clock:
        argv += ["--clock", clock]
    return argv


def insert_driver_cd(kit: Toolkit, p: WindowsParams, drive: str = "sdb") -> None:
    """Put virtio-win.iso in the second CD-ROM of the persistent definition (no file needed until it starts)."""
    kit.virsh("change-media", p.domain, drive, p.virtio_iso, "--insert", "--config")
