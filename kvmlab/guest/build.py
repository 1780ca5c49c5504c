"""``kvmlab guest build``: kernel + busybox initramfs + ext4 disk, offline."""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from kvmlab import paths
from kvmlab.errors import GuestNotBuilt
from kvmlab.guest import disk, initramfs, kernel
from kvmlab.procs import run, which
from kvmlab.resources.console import READY_MARKER  # noqa: F401 - what the guest this builds prints

# Bump when the guest's contents change in a way the inputs below do not show.
FORMAT = 5
KERNEL_CMDLINE = "console=ttyS0 quiet panic=-1 memhp_default_state=online i8042.noaux i8042.nokbd tsc=reliable"

Progress = Callable[[str], None]


@dataclass(frozen=True)
class GuestFiles:
    """Where the built guest lives. All of it is read-only once built."""

    root: Path

    @property
    def kernel(self) -> Path:
        """What guests boot: the uncompressed kernel through PVH where the build could extract it
        (kernel.extract_vmlinux), else the bzImage as Debian ships it."""
        elf = self.root / "vmlinux"
        return elf if elf.is_file() else self.root / "vmlinuz"

    @property
    def initrd(self) -> Path:
        return self.root / "initrd.img"

    @property
    def disk(self) -> Path:
        return self.root / "disk.raw"

    @property
    def manifest_path(self) -> Path:
        return self.root / "manifest.json"

    def manifest(self) -> dict[str, object] | None:
        try:
            data = json.loads(self.manifest_path.read_text())
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    @property
    def ready(self) -> bool:
        return self.manifest() is not None and all(p.is_file() for p in (self.kernel, self.initrd, self.disk))

    def require(self) -> GuestFiles:
        if not self.ready:
            raise GuestNotBuilt(
                f"the lab guest is not built (looked in {self.root})", "run `kvmlab guest build` (or `make setup`)"
            )
        return self


SYSTEM_GUEST = Path("/var/lib/kvmlab/guest")


def guest_files() -> GuestFiles:
    """The user's own guest; for users without one, the host's (JupyterHub trainees share
    the guest root built: it is only ever read, every lab disk is an overlay on it)."""
    own = GuestFiles(paths.guest_dir())
    if own.ready or paths.is_root() or "KVMLAB_HOME" in os.environ:
        return own
    shared = GuestFiles(SYSTEM_GUEST)
    return shared if shared.ready else own


def _asset(name: str) -> bytes:
    return resources.files("kvmlab.guest").joinpath(name).read_bytes()


def _stamp(path: str) -> str:
    st = Path(path).stat()
    return f"{path}:{st.st_size}:{int(st.st_mtime)}"


DISK_FORMAT = 1  # bump when kvmlab/guest/disk.py makes a different disk


def disk_digest() -> str:
    """What the base disk depends on. It is the backing file of every lab disk, so it
    is rebuilt only when this changes, never because the kernel was updated."""
    busybox = _stamp(which("busybox", "busybox-static"))
    return hashlib.sha256(f"disk-format={DISK_FORMAT}\n{busybox}\n".encode()).hexdigest()


def _lab_disks_in_use() -> list[Path]:
    return sorted(paths.labs_dir().glob("*/*/")) if paths.labs_dir().is_dir() else []


def inputs_digest() -> str:
    """What the build depends on; an unchanged digest means nothing to do."""
    h = hashlib.sha256(f"format={FORMAT}\ncmdline={KERNEL_CMDLINE}\n".encode())
    for name in ("init.sh", "hotplug.sh"):
        h.update(_asset(name))
    for tool, pkg in (("busybox", "busybox-static"), ("qemu-ga", "qemu-guest-agent")):
        h.update(_stamp(which(tool, pkg)).encode())
    h.update(kernel.WANTED_MODULES.__repr__().encode())
    debs = sorted(kernel.APT_ARCHIVES.glob("linux-image-*-cloud-amd64_*.deb")) + sorted(
        Path("/boot").glob("vmlinuz-*-cloud-amd64")
    )
    h.update("\n".join(map(str, debs)).encode())
    return h.hexdigest()


def _shared_libs(binary: str) -> list[str]:
    out = run(["ldd", binary]).stdout
    libs = re.findall(r"=>\s*(/\S+)", out) + re.findall(r"^\s*(/\S+)\s+\(", out, flags=re.M)
    return sorted(set(libs))


SHUTDOWN_SHIM = """#!/bin/sh
# qemu-ga runs `shutdown -P|-H|-r +0 MSG`; busybox has no shutdown(8).
sync
case " $* " in *" -r "*) exec reboot -f ;; esac
exec poweroff -f
"""

CHPASSWD_SHIM = """#!/bin/sh
# qemu-ga's set-user-password pipes "user:password" into chpasswd [-e].
IFS= read -r line
user=${line%%:*}; pass=${line#*:}
[ "$1" = -e ] && hash=$pass || hash=$(mkpasswd -m sha512 "$pass")
awk -F: -v u="$user" -v h="$hash" 'BEGIN{OFS=":"} $1==u{$2=h; found=1} {print} END{exit !found}' \\
    /etc/shadow > /etc/shadow.new && cat /etc/shadow.new > /etc/shadow && rm -f /etc/shadow.new
"""


def _initramfs_tree(src: kernel.KernelSource, progress: Progress) -> initramfs.Tree:
    tree = initramfs.Tree()
    for d in ("/proc", "/sys", "/dev", "/run", "/tmp", "/mnt/root", "/root", "/var/log", "/var/run", "/etc/kvmlab"):
        tree.dir(d)
    tree.chardev("/dev/console", 5, 1)
    tree.chardev("/dev/null", 1, 3, 0o666)
    busybox = which("busybox", "busybox-static")
    tree.file("/bin/busybox", Path(busybox).read_bytes(), 0o755)
    for applet in run([busybox, "--list-full"]).stdout.split():
        if "/" + applet not in tree:
            tree.symlink("/" + applet, "/bin/busybox")
    tree.file("/init", _asset("init.sh"), 0o755)
    tree.file("/sbin/kvmlab-hotplug", _asset("hotplug.sh"), 0o755)
    tree.file("/sbin/shutdown", SHUTDOWN_SHIM, 0o755)
    tree.file("/usr/sbin/chpasswd", CHPASSWD_SHIM, 0o755)

    progress(f"resolving virtio modules of kernel {src.release}")
    mods = kernel.resolve_modules(src.modules_root)
    base = f"/lib/modules/{src.release}"
    for rel, data in mods.files.items():
        tree.file(f"{base}/{rel}", data)
    tree.file(f"{base}/modules.dep", kernel.modules_dep_text(mods))
    tree.file("/etc/kvmlab/modules", "".join(f"{m}\n" for m in mods.order))

    qga = which("qemu-ga", "qemu-guest-agent")
    tree.file("/usr/sbin/qemu-ga", Path(qga).read_bytes(), 0o755)
    for lib in _shared_libs(qga):
        tree.file(lib, Path(lib).read_bytes(), 0o755)

    tree.file(
        "/etc/os-release", 'PRETTY_NAME="kvmlab tiny guest (busybox)"\nNAME="kvmlab"\nID=kvmlab\nVERSION_ID="1"\n'
    )
    tree.file("/etc/passwd", "root:x:0:0:root:/root:/bin/sh\n")
    tree.file("/etc/group", "root:x:0:\n")
    tree.file("/etc/shadow", f"root:{disk.sha512_crypt(disk.DEFAULT_ROOT_PASSWORD)}:19700:0:99999:7:::\n", 0o600)
    tree.file("/etc/profile", 'export PS1="[kvmlab-guest \\w]# "\nexport PATH=/sbin:/bin:/usr/sbin:/usr/bin\n')
    tree.file("/etc/acpid.conf", "PWRF PWRF\n")
    tree.file("/etc/acpi/PWRF", "#!/bin/sh\nsync\nexec poweroff -f\n", 0o755)
    return tree


def build(force: bool = False, progress: Progress = lambda _msg: None) -> GuestFiles:
    """Build the user's own guest unless an up-to-date build is already there."""
    files = GuestFiles(paths.guest_dir())
    digest = inputs_digest()
    manifest = files.manifest()
    if not force and files.ready and manifest and manifest.get("inputs") == digest:
        progress(f"guest is up to date in {files.root}")
        return files
    started = time.monotonic()
    paths.ensure_dir(files.root)
    progress("locating Debian's cloud kernel")
    src = kernel.find_kernel()
    try:
        tree = _initramfs_tree(src, progress)
        progress("writing initramfs")
        staged = files.root / "initrd.img.partial"
        staged.write_bytes(initramfs.compress(initramfs.cpio_newc(tree)))
        staged.chmod(0o644)
        kernel.copy_kernel(src, files.root / "vmlinuz.partial")
        names = ["vmlinuz", "initrd.img"]
        elf = kernel.extract_vmlinux(src.vmlinuz.read_bytes())
        if elf is not None:
            staged_elf = files.root / "vmlinux.partial"
            staged_elf.write_bytes(elf)
            staged_elf.chmod(0o644)  # QEMU reads it as its own user, whatever this process's umask
            names.append("vmlinux")
        else:
            (files.root / "vmlinux").unlink(missing_ok=True)
        # A disk built before disk_inputs was recorded is kept: the format has not changed since.
        recorded = (manifest or {}).get("disk_inputs", disk_digest())
        if force or not files.disk.is_file() or recorded != disk_digest():
            in_use = _lab_disks_in_use()
            if in_use and files.disk.is_file() and not force:
                raise GuestNotBuilt(
                    f"the guest's base disk must be rebuilt, but {len(in_use)} lab(s) have disks on it "
                    f"(first: {in_use[0]})",
                    "finish those labs first (kvmlab lab status), or rebuild anyway with kvmlab guest build --force",
                )
            progress("making the ext4 disk image (mkfs.ext4 -d)")
            disk.build_disk(files.root / "disk.raw.partial")
            names.append("disk.raw")
        for name in names:
            target = files.root / name
            if target.exists():
                target.chmod(0o644)
            (files.root / f"{name}.partial").replace(target)
        files.disk.chmod(0o444)  # the base of every lab disk: never written
        manifest_data = {
            "format": FORMAT,
            "inputs": digest,
            "disk_inputs": disk_digest(),
            "kernel_release": src.release,
            "kernel_origin": src.origin,
            "kernel_boot": "pvh" if elf is not None else "bzImage",
            "cmdline": KERNEL_CMDLINE,
            "initrd_bytes": files.initrd.stat().st_size,
            "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "build_seconds": round(time.monotonic() - started, 2),
        }
        files.manifest_path.write_text(json.dumps(manifest_data, indent=2) + "\n")
    finally:
        src.cleanup()
        for leftover in files.root.glob("*.partial"):
            leftover.unlink()
    progress(f"guest built in {time.monotonic() - started:.1f} s ({files.root})")
    return files
