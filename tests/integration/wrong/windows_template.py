"""Known-wrong Windows template definitions. All are defined only, never started.

The SPICE-on-0.0.0.0 case in particular must never run: it is defined, graded
from its persistent XML, and undefined by finish.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from kvmlab.labs.windows_template import WindowsParams, insert_driver_cd, install_argv
from kvmlab.procs import run
from kvmlab.toolkit import Toolkit
from tests.integration.wrong import Wrong

LAB = "windows-template"


def _template(
    disk_format: str = "qcow2", driver_cd: bool = True, drive: str = "sdb", **install: Any
) -> Callable[[Toolkit], None]:
    def apply(s: Toolkit) -> None:
        p = s.params
        assert isinstance(p, WindowsParams)
        run(["qemu-img", "create", "-q", "-f", disk_format, p.disk, f"{p.disk_size_gib}G"])
        Path(p.xml).write_text(run(install_argv(p, disk_format=disk_format, **install)).stdout)
        s.virsh("define", p.xml)
        if driver_cd:
            insert_driver_cd(s, p, drive)
        assert not s.host.domain(p.domain).is_running

    return apply


WRONG = [
    Wrong("clock-offset-utc", _template(clock="offset=utc,rtc_tickpolicy=catchup,hypervclock_present=yes"),
          frozenset({"clock-localtime"})),
    Wrong("spice-on-all-addresses", _template(listen="0.0.0.0"), frozenset({"spice-loopback"})),
    Wrong("os-variant-generic-no-windows-settings", _template(os_variant="generic", features=None, clock=None),
          frozenset({"hyperv", "clock-localtime", "clock-timers"})),
    Wrong("no-driver-cd", _template(driver_cd=False), frozenset({"virtio-win-cd"})),
    Wrong("raw-template-disk", _template(disk_format="raw"), frozenset({"template-disk", "system-disk"})),
    # virt-install takes win2k8r2's recommended 2 GiB when --memory is left out.
    Wrong("memory-and-vcpus-left-out", _template(resources=False), frozenset({"template-resources"})),
    # The drivers in the drive the firmware boots: the install DVD has nowhere to go.
    Wrong("driver-cd-in-the-install-drive", _template(drive="sda"), frozenset({"install-dvd-drive"})),
]  # fmt: skip
