"""Integration tests: real libvirtd at qemu:///system, the real lab guest.

They are not skipped when the host is not ready: `make test` sets the host
up first, so a missing daemon or guest here is a failure worth seeing.
Deselect them explicitly with `-m "not integration"`.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import libvirt
import pytest

from kvmlab import paths, variants
from kvmlab.connection import Connection

# Per test process, so that two test runs on one host do not collide.
TAG = os.getpid()
FOREIGN_DOMAIN = f"""<domain type='qemu'><name>foreign-vm-{TAG}</name><memory unit='MiB'>64</memory><vcpu>1</vcpu>
<os><type arch='x86_64' machine='pc'>hvm</type></os><devices><disk type='file' device='disk'>
<driver name='qemu' type='raw'/><source file='{{disk}}'/><target dev='vda' bus='virtio'/></disk></devices></domain>"""
FOREIGN_NETWORK = f"""<network><name>foreign-net-{TAG}</name><bridge name='fkv{TAG}'/>
<ip address='{{net}}.1' netmask='255.255.255.0'><dhcp><range start='{{net}}.10' end='{{net}}.20'/>
</dhcp></ip></network>"""
FOREIGN_POOL = f"<pool type='dir'><name>foreign-pool-{TAG}</name><target><path>{{path}}</path></target></pool>"
FOREIGN_BRIDGE = f"fkbr{TAG}"
_SIZES = re.compile(r"\s*<(capacity|allocation|available) unit='bytes'>\d+</\1>")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def system() -> Iterator[Connection]:
    if os.geteuid() != 0:
        pytest.fail("integration tests need root and qemu:///system: run `make test` as root")
    conn = Connection("qemu:///system")
    _ = conn.conn
    yield conn
    conn.close()


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@dataclass
class Foreign:
    """Objects kvmlab does not own, seeded before the labs run and checked after."""

    system: Connection  # not a raw virConnect: libvirtd is restarted mid-run by the resilience tests
    files: dict[Path, str] = field(default_factory=dict)
    xml: dict[str, str] = field(default_factory=dict)

    @property
    def conn(self) -> libvirt.virConnect:
        return self.system.conn

    def snapshot(self) -> dict[str, str]:
        return {
            "domain": self.conn.lookupByName(f"foreign-vm-{TAG}").XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE),
            "network": self.conn.networkLookupByName(f"foreign-net-{TAG}").XMLDesc(0),
            "network-active": str(self.conn.networkLookupByName(f"foreign-net-{TAG}").isActive()),
            # Without the sizes: they are the filesystem's free space, and anything that refreshes
            # every pool (virt-install, virt-clone) rereads them while any test writes any file.
            "pool": _SIZES.sub("", self.conn.storagePoolLookupByName(f"foreign-pool-{TAG}").XMLDesc(0)),
            "bridge": str(Path(f"/sys/class/net/{FOREIGN_BRIDGE}/bridge").is_dir()),
        }

    def assert_untouched(self) -> None:
        assert self.snapshot() == self.xml, "a foreign libvirt object or bridge changed"
        for path, digest in self.files.items():
            assert path.exists(), f"foreign file {path} was removed"
            assert _digest(path) == digest, f"foreign file {path} was changed"


_SEEDED = re.compile(r"^foreign-(?:vm|net|pool|notes|readme)-(\d+)(?:\.txt)?$|^fk(?:br|v)(\d+)$")


def _seeder(name: str) -> int | None:
    """The PID of the test run that seeded the object or file of this name, if one did."""
    match = _SEEDED.match(name)
    pid = match and (match.group(1) or match.group(2))
    return int(pid) if pid else None


def _is_stale(pid: int) -> bool:
    """A test run that no longer exists (it was killed before its teardown)."""
    return pid != TAG and not Path(f"/proc/{pid}").exists()


def _remove_seeded(conn: libvirt.virConnect, whose: Callable[[int], bool]) -> None:
    """Remove the foreign objects and files seeded by the test runs ``whose`` picks by PID."""

    def seeded(name: str) -> bool:
        pid = _seeder(name)
        return pid is not None and whose(pid)

    # Both workers of a run clean up a killed run's objects as they start: the other may get there first.
    for obj in [*conn.listAllDomains(0), *conn.listAllNetworks(0), *conn.listAllStoragePools(0)]:
        if seeded(obj.name()):
            with contextlib.suppress(libvirt.libvirtError):
                if obj.isActive():
                    obj.destroy()
                obj.undefine()
    for link in Path("/sys/class/net").iterdir():
        if seeded(link.name):
            subprocess.run(["ip", "link", "delete", link.name], check=False)
    for planted in [*paths.data_dir().glob("foreign-notes-*.txt"), *paths.labs_dir().glob("foreign-readme-*.txt")]:
        if seeded(planted.name):
            planted.unlink(missing_ok=True)


@pytest.fixture(scope="session")
def foreign(system: Connection, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Foreign]:
    conn = system.conn
    _remove_seeded(conn, _is_stale)
    # A subnet from kvmlab's host-wide allocator: concurrent test runs never clash.
    net_prefix = variants.subnet(f"tests/foreign/{TAG}").rsplit(".", 1)[0]
    outside = tmp_path_factory.mktemp("foreign")
    disk = outside / "foreign.raw"
    disk.write_bytes(b"\0" * 1024 * 1024)
    data = paths.data_dir()
    planted = [disk, data / f"foreign-notes-{TAG}.txt", paths.labs_dir() / f"foreign-readme-{TAG}.txt"]
    for path in planted[1:]:
        paths.ensure_dir(path.parent)
        path.write_text("not kvmlab's\n")
    conn.defineXML(FOREIGN_DOMAIN.format(disk=disk))
    conn.networkDefineXML(FOREIGN_NETWORK.format(net=net_prefix)).create()
    conn.storagePoolDefineXML(FOREIGN_POOL.format(path=outside), 0).create(0)
    subprocess.run(["ip", "link", "add", FOREIGN_BRIDGE, "type", "bridge"], check=True)
    seeded = Foreign(system, {p: _digest(p) for p in planted})
    seeded.xml = seeded.snapshot()
    try:
        yield seeded
    finally:
        variants.release(f"tests/foreign/{TAG}")
        # Through the live connection: the one they were made on died with the
        # libvirtd the resilience tests restarted.
        _remove_seeded(seeded.conn, lambda pid: pid == TAG)
