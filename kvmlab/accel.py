"""Decide the accelerator by trying, never by assuming.

``/dev/kvm`` can exist and still be useless (on PVM-backed hosts a normal
guest kernel hangs under ``-accel kvm``), so the verdict comes from booting
the tiny guest under KVM with a short timeout. The verdict is cached per
host, kernel, KVM module and QEMU build; every lab uses it to pick the
libvirt domain type (``kvm`` or ``qemu``).
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from kvmlab import hostinfo, paths
from kvmlab.errors import GuestNotBuilt, HostCannot
from kvmlab.guest.boot import boot_bare
from kvmlab.guest.build import guest_files

KVM_TIMEOUT = 12.0  # a KVM boot of the tiny guest takes ~1 s; TCG takes 3-5 s
TCG_TIMEOUT = 60.0


@dataclass
class Verdict:
    accel: str  # "kvm" | "tcg"
    reason: str
    key: str
    kvm_boot_seconds: float | None = None
    tcg_boot_seconds: float | None = None
    cached: bool = False
    tried: list[str] = field(default_factory=list)

    @property
    def domain_type(self) -> str:
        """libvirt's name for it: <domain type='kvm'> or <domain type='qemu'> (TCG)."""
        return "kvm" if self.accel == "kvm" else "qemu"


def cache_key() -> str:
    qemu = hostinfo.qemu_binary()
    stamp = ""
    if qemu:
        st = Path(qemu).stat()
        stamp = f"{st.st_size}-{int(st.st_mtime)}"
    kvm = hostinfo.kvm_info()
    return "|".join(
        [socket.gethostname(), os.uname().release, ",".join(kvm.modules) or "none", f"uid{os.geteuid()}", stamp]
    )


def _cache_path() -> Path:
    return paths.cache_dir() / "accel.json"


def cached_verdict() -> Verdict | None:
    try:
        data = json.loads(_cache_path().read_text())
        verdict = Verdict(**data)
    except (OSError, ValueError, TypeError):
        return None
    if verdict.key != cache_key():
        return None
    verdict.cached = True
    return verdict


def decide(force: bool = False, progress: Callable[[str], None] = lambda _msg: None) -> Verdict:
    if not force and (cached := cached_verdict()) is not None:
        return cached
    files = guest_files()
    if not files.ready:
        raise GuestNotBuilt(
            "the accelerator is decided by booting the lab guest, which is not built yet",
            "run `kvmlab guest build` (or `make setup`)",
        )
    key = cache_key()
    kvm = hostinfo.kvm_info()
    verdict: Verdict | None = None
    tried: list[str] = []
    reason = ""
    if not kvm.device_exists:
        reason = "/dev/kvm does not exist (no KVM module loaded, or no VT-x/AMD-V): using TCG, QEMU's software CPU"
    elif not kvm.accessible:
        reason = "/dev/kvm exists but this user cannot open it (add yourself to the kvm group): using TCG"
    else:
        progress(f"trying KVM: booting the lab guest with -accel kvm (up to {KVM_TIMEOUT:.0f} s)")
        result = boot_bare(files, "kvm", KVM_TIMEOUT)
        tried.append(f"kvm: {'ready' if result.ready else 'no readiness line'} after {result.seconds:.1f} s")
        if result.ready:
            verdict = Verdict(
                "kvm",
                f"the lab guest booted under KVM in {result.seconds:.1f} s "
                f"(module {', '.join(kvm.modules) or 'unknown'})",
                key,
                kvm_boot_seconds=result.seconds,
            )
        else:
            why = f"; QEMU said: {result.exit_note}" if result.exit_note else ""
            module = ", ".join(kvm.modules) or "unknown"
            pvm = (
                " kvm_pvm is a paravirtualized KVM for nested guests; a normal guest kernel hangs on it."
                if "kvm_pvm" in kvm.modules
                else ""
            )
            reason = (
                f"/dev/kvm exists (module {module}) but the lab guest did not boot under KVM within "
                f"{KVM_TIMEOUT:.0f} s{why}.{pvm} Using TCG."
            )
    if verdict is None:
        progress("trying TCG: booting the lab guest with QEMU's software CPU")
        result = boot_bare(files, "tcg", TCG_TIMEOUT)
        tried.append(f"tcg: {'ready' if result.ready else 'no readiness line'} after {result.seconds:.1f} s")
        if not result.ready:
            raise HostCannot(
                f"the lab guest boots neither under KVM nor under TCG ({'; '.join(tried)})",
                f"rebuild it: kvmlab guest build --force; QEMU said: {result.exit_note or 'nothing'}",
            )
        verdict = Verdict("tcg", reason, key, tcg_boot_seconds=result.seconds)
    verdict.tried = tried
    paths.ensure_dir(paths.cache_dir())
    _cache_path().write_text(json.dumps(asdict(verdict), indent=1) + "\n")
    return verdict
