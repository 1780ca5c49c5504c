"""Asking the guest itself, through qemu-guest-agent on its virtio-serial channel.

Graders use this to check what the guest *sees* (a hot-added disk, a NIC,
online CPUs), not only what libvirt's XML claims.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import libvirt
import libvirt_qemu

from kvmlab.errors import GuestTimeout, KvmlabError

T = TypeVar("T")


class AgentUnavailable(KvmlabError):
    pass


def poll(read: Callable[[], T], good: Callable[[T], bool], seconds: float, interval: float = 0.2) -> T:
    """Read until ``good(value)`` or ``seconds`` pass; return the last value read.

    Guest-side facts lag host-side ones (a hot-plugged device takes a moment
    to appear in the guest kernel); graders use this instead of sleeping.
    """
    deadline = time.monotonic() + seconds
    value = read()
    while not good(value) and time.monotonic() < deadline:
        time.sleep(interval)
        value = read()
    return value


@dataclass(frozen=True)
class PciDevice:
    slot: str  # 0000:00:03.0
    id: str  # vendor:device, e.g. 8086:100e (an e1000 NIC)
    driver: str  # the guest driver bound to it, "" when none claims it


@dataclass(frozen=True)
class BalloonCounters:
    """The guest kernel's balloon counters since boot, in KiB.

    A guest that boots with a balloon target below its maximum only inflates;
    memory given to it at run time (setmem --live, HMP balloon) is deflated.
    QEMU keeps no history of its balloon targets (libvirt sets one right after
    every start too), so these counters are what tells a live change from a
    restart with a new <currentMemory>.
    """

    inflated_kib: int
    deflated_kib: int

    @property
    def held_kib(self) -> int:
        return self.inflated_kib - self.deflated_kib


@dataclass
class ExecResult:
    exitcode: int
    stdout: str
    stderr: str


class GuestAgent:
    """qemu-guest-agent of a libvirt guest. Subclasses change only how a command travels."""

    def __init__(self, dom: libvirt.virDomain) -> None:
        self.dom = dom

    @property
    def where(self) -> str:
        """Which guest, in messages."""
        return f"guest {self.dom.name()}"

    def command(self, execute: str, arguments: dict[str, Any] | None = None, timeout: int = 10) -> Any:
        payload: dict[str, Any] = {"execute": execute}
        if arguments:
            payload["arguments"] = arguments
        try:
            reply = libvirt_qemu.qemuAgentCommand(self.dom, json.dumps(payload), timeout, 0)
        except libvirt.libvirtError as err:
            raise AgentUnavailable(
                f"the guest agent in {self.dom.name()} did not answer {execute}: {err.get_error_message()}",
                "wait a few seconds after boot; if it persists, restart the lab (kvmlab lab reset LAB)",
            ) from err
        return json.loads(reply).get("return")

    def ping(self, timeout: int = 2) -> bool:
        try:
            self.command("guest-ping", timeout=timeout)
        except AgentUnavailable:
            return False
        return True

    def wait(self, seconds: float = 30) -> None:
        deadline = time.monotonic() + seconds
        while not self.ping():
            if time.monotonic() > deadline:
                raise GuestTimeout(
                    f"the agent of {self.where} did not answer within {seconds:.0f} s",
                    "check the guest's console log (is its QEMU still running?); kvmlab lab reset LAB rebuilds it",
                )
            time.sleep(0.2)

    def run(self, argv: list[str], timeout: float = 20) -> ExecResult:
        """Run a program in the guest and return its exit code and output."""
        pid = self.command("guest-exec", {"path": argv[0], "arg": argv[1:], "capture-output": True})["pid"]
        deadline = time.monotonic() + timeout
        while True:
            status = self.command("guest-exec-status", {"pid": pid})
            if status.get("exited"):
                return ExecResult(
                    exitcode=int(status.get("exitcode", -1)),
                    stdout=base64.b64decode(status.get("out-data", "")).decode(errors="replace"),
                    stderr=base64.b64decode(status.get("err-data", "")).decode(errors="replace"),
                )
            if time.monotonic() > deadline:
                raise GuestTimeout(f"{' '.join(argv)} did not finish in the guest within {timeout:.0f} s")
            time.sleep(0.05)

    def read(self, path: str) -> str:
        return self.run(["/bin/cat", path]).stdout

    def block_devices(self) -> dict[str, int]:
        """Block devices the guest kernel knows, name -> size in bytes."""
        devices = {}
        for line in self.read("/proc/partitions").splitlines()[2:]:
            parts = line.split()
            if len(parts) == 4:
                devices[parts[3]] = int(parts[2]) * 1024
        return devices

    def online_cpus(self) -> int:
        return sum(1 for cpu in self.command("guest-get-vcpus") if cpu.get("online"))

    def nics(self) -> dict[str, str]:
        """Network interfaces the guest sees: MAC -> name (loopback left out)."""
        result = {}
        for nic in self.command("guest-network-get-interfaces"):
            mac = nic.get("hardware-address", "")
            if mac and mac != "00:00:00:00:00:00":
                result[mac.lower()] = nic["name"]
        return result

    def meminfo_kib(self) -> dict[str, int]:
        info = {}
        for line in self.read("/proc/meminfo").splitlines():
            key, _, rest = line.partition(":")
            if rest.strip().endswith("kB"):
                info[key] = int(rest.split()[0])
        return info

    def balloon_kib(self) -> int:
        """What the virtio balloon holds right now, as the guest kernel counts it (/proc/vmstat, 4 KiB pages)."""
        return self.balloon_counters().held_kib

    def balloon_counters(self) -> BalloonCounters:
        """What the balloon took from the guest and gave back since it booted (/proc/vmstat, 4 KiB pages)."""
        counters = dict(line.partition(" ")[::2] for line in self.read("/proc/vmstat").splitlines())
        return BalloonCounters(int(counters.get("balloon_inflate", 0)) * 4, int(counters.get("balloon_deflate", 0)) * 4)

    def pci_devices(self) -> list[PciDevice]:
        """PCI devices the guest kernel found, with the driver bound to each (from sysfs, as lspci -k shows)."""
        script = (
            "for d in /sys/bus/pci/devices/*; do drv=; "
            '[ -e "$d/driver" ] && drv=$(basename "$(readlink "$d/driver")"); '
            'echo "${d##*/} $(cat "$d/vendor") $(cat "$d/device") $drv"; done'
        )
        found = []
        for line in self.run(["/bin/sh", "-c", script]).stdout.splitlines():
            parts = line.split()
            if len(parts) >= 3:
                vendor, device = parts[1].removeprefix("0x"), parts[2].removeprefix("0x")
                found.append(PciDevice(parts[0], f"{vendor}:{device}", parts[3] if len(parts) > 3 else ""))
        return found
