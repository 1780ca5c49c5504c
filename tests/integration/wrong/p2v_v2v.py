from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable

from kvmlab.guest.boot import GUEST_BOOT_TIMEOUT
from kvmlab.labs.p2v_v2v import V2vParams, virt_install_argv, wait_ready
from kvmlab.procs import run
from kvmlab.toolkit import Toolkit
from tests.integration.wrong import Wrong

LAB = "p2v-v2v"


def _export(p: V2vParams, subformat: str = "streamOptimized") -> None:
    run(["qemu-img", "convert", "-f", "raw", "-O", "vmdk", "-o", f"subformat={subformat}", p.source_disk, p.vmdk])


def _import(
    convert: Callable[[V2vParams], None],
    fmt: str = "qcow2",
    listen: str = "127.0.0.1",
    video: str = "qxl",
    subformat: str = "streamOptimized",
    driver_type: str | None = None,
) -> Callable[[Toolkit], None]:
    def apply(s: Toolkit) -> None:
        p = s.params
        assert isinstance(p, V2vParams)
        _export(p, subformat)
        convert(p)
        argv = virt_install_argv(p, fmt=fmt, listen=listen)
        argv[argv.index("--video") + 1] = video
        if listen != "127.0.0.1":
            # Never start a guest with a console open to every network: only define it
            # (virt-install --print-xml > web01.xml; virsh define web01.xml).
            s.connection.conn.defineXML(run([*argv, "--print-xml"]).stdout)
            return
        if driver_type:
            # virt-install --print-xml > web01.xml, the driver type edited by hand, virsh define, virsh start.
            root = ET.fromstring(run([*argv, "--print-xml"]).stdout)
            driver = root.find("devices/disk/driver")
            assert driver is not None
            driver.set("type", driver_type)
            s.connection.conn.defineXML(ET.tostring(root, encoding="unicode"))
            s.virsh("start", p.domain)
        else:
            run(argv, timeout=GUEST_BOOT_TIMEOUT)
        wait_ready(s, p)

    return apply


def _to_qcow2(p: V2vParams) -> None:
    run(["qemu-img", "convert", "-f", "vmdk", "-O", "qcow2", p.vmdk, p.converted])


def _to_raw(p: V2vParams) -> None:
    # The name says .qcow2, the bytes are raw: -O decides, not the file name.
    run(["qemu-img", "convert", "-f", "vmdk", "-O", "raw", p.vmdk, p.converted])


def _overlay(p: V2vParams) -> None:
    run(["qemu-img", "create", "-f", "qcow2", "-b", p.vmdk, "-F", "vmdk", p.converted])


WRONG = [
    Wrong("converted-to-raw", _import(_to_raw, fmt="raw"), frozenset({"converted-format", "imported-disk"})),
    Wrong("overlay-instead-of-conversion", _import(_overlay), frozenset({"converted-standalone"})),
    Wrong(
        "spice-on-every-address-define-only",
        _import(_to_qcow2, listen="0.0.0.0"),  # the mistake under test: defined, never started
        frozenset({"imported-booted", "spice-config", "spice-socket"}),
    ),
    Wrong("vga-instead-of-qxl", _import(_to_qcow2, video="vga"), frozenset({"video-qxl"})),
    # qemu-img's default VMDK sub-format: not what an OVA carries.
    Wrong("vmdk-left-monolithic-sparse", _import(_to_qcow2, subformat="monolithicSparse"), frozenset({"vmdk-export"})),
    # The qcow2 defined as raw: the guest boots anyway, from the initramfs alone (hostname=kvmlab machine-id=none).
    Wrong(
        "qcow2-defined-as-raw", _import(_to_qcow2, driver_type="raw"), frozenset({"imported-disk", "imported-booted"})
    ),
]
