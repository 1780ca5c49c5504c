"""``kvmlab doctor``: what this host can do for the labs, like virt-host-validate."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import libvirt

from kvmlab import accel, hostinfo, paths
from kvmlab.connection import Connection
from kvmlab.errors import KvmlabError
from kvmlab.guest.build import guest_files


@dataclass
class Row:
    name: str
    ok: bool
    detail: str


def _libvirt_version(number: int) -> str:
    return f"{number // 1_000_000}.{number // 1000 % 1000}.{number % 1000}"


def report(force: bool = False, progress: Callable[[str], None] = lambda _msg: None) -> dict[str, Any]:
    rows: list[Row] = []
    cpu = hostinfo.cpu_info()
    kvm = hostinfo.kvm_info()
    hw = [f for f in cpu.virt_flags if f in ("vmx", "svm")]
    rows.append(
        Row(
            "cpu-virt-flags",
            True,
            f"{', '.join(hw) or 'no vmx/svm'} in /proc/cpuinfo"
            + (" (we are a guest: 'hypervisor' flag)" if "hypervisor" in cpu.flags else ""),
        )
    )
    rows.append(
        Row(
            "kvm-device",
            kvm.device_exists,
            "/dev/kvm "
            + ("exists" if kvm.device_exists else "is missing")
            + ("" if kvm.accessible or not kvm.device_exists else ", but this user cannot open it"),
        )
    )
    rows.append(Row("kvm-module", bool(kvm.modules), f"loaded: {', '.join(kvm.modules) or 'none'}"))

    qemu_v, img_v = hostinfo.qemu_version(), hostinfo.qemu_img_version()
    rows.append(
        Row("qemu", qemu_v is not None, f"qemu-system-x86_64 {qemu_v}" if qemu_v else "qemu-system-x86 not installed")
    )
    rows.append(Row("qemu-img", img_v is not None, f"qemu-img {img_v}" if img_v else "qemu-utils not installed"))

    connection = Connection()
    lv: dict[str, Any] = {"uri": connection.uri, "ok": False, "version": None}
    try:
        conn = connection.conn
        lv.update(
            ok=True,
            version=_libvirt_version(conn.getLibVersion()),
            hypervisor_version=_libvirt_version(conn.getVersion()),
        )
        rows.append(Row("libvirt", True, f"{connection.uri}: libvirt {lv['version']}"))
    except KvmlabError as err:
        lv["error"] = err.message
        rows.append(Row("libvirt", False, f"{err.message} -> {err.hint}"))
    except libvirt.libvirtError as err:
        lv["error"] = err.get_error_message()
        rows.append(Row("libvirt", False, lv["error"]))
    finally:
        connection.close()

    files = guest_files()
    manifest = files.manifest() or {}
    rows.append(
        Row(
            "guest",
            files.ready,
            f"built in {files.root} (kernel {manifest.get('kernel_release')})"
            if files.ready
            else f"not built in {files.root}: run `kvmlab guest build`",
        )
    )
    libguestfs = shutil.which("virt-customize") is not None
    rows.append(
        Row(
            "libguestfs",
            libguestfs,
            "virt-customize found"
            if libguestfs
            else "libguestfs-tools not installed (needed by the offline-password lab)",
        )
    )

    # Which labs this host and user can run, and why not the others.
    from kvmlab.labs import registry
    from kvmlab.requirements import unmet_requirements

    blocked = {lab.id: unmet_requirements(lab.requires, "/session" in connection.uri) for lab in registry.all_labs()}
    runnable = [lab_id for lab_id, unmet in blocked.items() if not unmet]
    refused = {lab_id: unmet[0][0] for lab_id, unmet in blocked.items() if unmet}
    detail = f"{len(runnable)}/{len(blocked)} labs can run here"
    if refused:
        detail += "; not here: " + "; ".join(f"{lab_id} {why}" for lab_id, why in refused.items())
    rows.append(Row("labs", bool(runnable), detail))

    verdict: accel.Verdict | None = None
    try:
        verdict = accel.decide(force=force, progress=progress)
        rows.append(
            Row("accelerator", True, f"{verdict.accel}: {verdict.reason}" + (" (cached)" if verdict.cached else ""))
        )
    except KvmlabError as err:
        rows.append(Row("accelerator", False, f"{err.message} -> {err.hint}"))

    return {
        "accel": verdict.accel if verdict else None,
        "accel_reason": verdict.reason if verdict else rows[-1].detail,
        "domain_type": verdict.domain_type if verdict else None,
        "kvm": {
            "device": "/dev/kvm",
            "exists": kvm.device_exists,
            "accessible": kvm.accessible,
            "module": kvm.flavour,
            "usable": bool(verdict and verdict.accel == "kvm"),
        },
        "cpu": {"vendor": cpu.vendor, "model": cpu.model, "virt_flags": cpu.virt_flags},
        "libvirt": lv,
        "qemu": {"version": qemu_v, "binary": hostinfo.qemu_binary()},
        "qemu_img": {"version": img_v},
        "guest": {
            "ready": files.ready,
            "path": str(files.root),
            **{k: manifest.get(k) for k in ("kernel_release", "initrd_bytes", "built_at")},
        },
        "data_dir": str(paths.data_dir()),
        "labs": {"runnable": runnable, "refused": refused},
        "root": paths.is_root(),
        "checks": [row.__dict__ for row in rows],
        "ok": all(r.ok for r in rows if r.name in ("qemu", "qemu-img", "libvirt", "guest", "accelerator")),
    }
