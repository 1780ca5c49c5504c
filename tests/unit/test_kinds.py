"""Each kind of owned object, on its own: what counts as still ours, and what removal leaves alone.

Real objects only: files and directories in a private data directory, libvirt
objects on the test driver, and (as root) real bridges, dummy links, veths,
tmpfs mounts and network namespaces with names no one else uses.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from kvmlab import paths
from kvmlab.connection import Connection
from kvmlab.kinds import KINDS, LIBVIRT_KINDS, MOUNT_SOURCE, REMOVAL_ORDER
from kvmlab.ownership import Owned
from kvmlab.resources.bridge import SYS_NET

as_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (links, mounts, namespaces)")
TAG = f"{os.getpid() % 100000}"


def _owned(kind: str, name: str | Path, uuid_: str | None = None, uri: str | None = None) -> Owned:
    return Owned(kind, str(name), "lab", "created", uuid_, uri)


def _remove(conn: Connection, obj: Owned, trainee: str = "alice") -> str | None:
    return KINDS[obj.kind].remove(conn, obj, trainee)


@pytest.fixture
def data(kvmlab_home: Path) -> Path:
    return paths.ensure_dir(paths.data_dir())


def test_the_table_orders_removal_and_knows_the_libvirt_kinds() -> None:
    assert REMOVAL_ORDER[:2] == ("libvirtd", "process") and REMOVAL_ORDER[-2:] == ("file", "dir")
    assert REMOVAL_ORDER.index("domain") < REMOVAL_ORDER.index("network") < REMOVAL_ORDER.index("bridge")
    assert frozenset({"domain", "network", "pool"}) == LIBVIRT_KINDS


# -- files and directories --------------------------------------------------------------


def test_file_inside_the_data_dir_is_removed(test_host: Connection, data: Path) -> None:
    f = data / "x.qcow2"
    f.write_text("mine")
    assert _remove(test_host, _owned("file", f)) is None and not f.exists()


def test_file_outside_the_data_dir_is_left(test_host: Connection, data: Path, tmp_path: Path) -> None:
    f = tmp_path / "elsewhere.txt"
    f.write_text("not kvmlab's")
    assert "outside" in (_remove(test_host, _owned("file", f)) or "") and f.exists()


def test_a_symlink_at_a_file_name_is_unlinked_never_followed(test_host: Connection, data: Path, tmp_path: Path) -> None:
    victim = tmp_path / "precious"
    victim.write_text("keep")
    link = data / "x.qcow2"
    link.symlink_to(victim)
    assert _remove(test_host, _owned("file", link)) is None
    assert not link.is_symlink() and victim.read_text() == "keep"


def test_a_directory_where_a_file_was_expected_is_left(test_host: Connection, data: Path) -> None:
    (data / "x.qcow2").mkdir()
    assert "is a directory" in (_remove(test_host, _owned("file", data / "x.qcow2")) or "")
    assert (data / "x.qcow2").is_dir()


def test_a_directory_holding_files_kvmlab_did_not_make_is_left(test_host: Connection, data: Path) -> None:
    d = data / "labs" / "alice"
    d.mkdir(parents=True)
    (d / "theirs.txt").write_text("x")
    assert "theirs.txt" in (_remove(test_host, _owned("dir", d)) or "") and d.is_dir()
    (d / "theirs.txt").unlink()
    assert _remove(test_host, _owned("dir", d)) is None and not d.exists()


def test_a_file_where_a_directory_was_expected_is_left(test_host: Connection, data: Path) -> None:
    (data / "labs").write_text("x")
    assert "not a directory" in (_remove(test_host, _owned("dir", data / "labs")) or "")


def test_gone_is_nothing_to_do(test_host: Connection, data: Path) -> None:
    for kind in ("file", "dir", "process", "libvirtd"):
        assert _remove(test_host, _owned(kind, data / "never-made")) is None


# -- processes and a second libvirtd ---------------------------------------------------


@pytest.fixture
def sleeper() -> Iterator[list[subprocess.Popen[bytes]]]:
    procs: list[subprocess.Popen[bytes]] = []
    yield procs
    for p in procs:
        p.kill()
        p.wait()


def test_a_process_is_stopped_only_while_it_names_its_pid_file(
    test_host: Connection, data: Path, sleeper: list[subprocess.Popen[bytes]]
) -> None:
    pid_file = data / "qemu.pid"
    stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    sleeper.append(stranger)
    pid_file.write_text(f"{stranger.pid}\n")
    assert "not the recorded process" in (_remove(test_host, _owned("process", pid_file)) or "")
    assert stranger.poll() is None, "a stranger that inherited the number was signalled"
    ours = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)", "-pidfile", str(pid_file)], executable=sys.executable
    )
    sleeper.append(ours)
    pid_file.write_text(f"{ours.pid}\n")
    for _ in range(500):  # until exec has finished and /proc/PID/cmdline is readable
        if Path(f"/proc/{ours.pid}/cmdline").read_bytes():
            break
    assert _remove(test_host, _owned("process", pid_file)) is None
    assert ours.wait(timeout=10) is not None and not pid_file.exists()


def test_a_pid_file_outside_the_data_dir_is_never_read(test_host: Connection, data: Path, tmp_path: Path) -> None:
    pid_file = tmp_path / "qemu.pid"
    pid_file.write_text("1\n")
    assert "outside" in (_remove(test_host, _owned("process", pid_file)) or "") and pid_file.exists()


def test_a_libvirtd_directory_that_is_a_symlink_is_left(test_host: Connection, data: Path, tmp_path: Path) -> None:
    (data / "target2").symlink_to(tmp_path)
    assert "not the directory" in (_remove(test_host, _owned("libvirtd", data / "target2")) or "")
    assert tmp_path.is_dir()


# -- libvirt objects (test driver) -----------------------------------------------------------

DOMAIN = "<domain type='test'><name>{}</name><memory>65536</memory><os><type>hvm</type></os></domain>"


def test_a_domain_is_found_again_by_uuid_even_renamed(test_host: Connection) -> None:
    dom = test_host.conn.defineXML(DOMAIN.format("alice-vm"))
    made = _owned("domain", "alice-vm", dom.UUIDString(), test_host.uri)
    dom.rename("renamed-by-trainee", 0)
    assert _remove(test_host, made) is None
    assert "renamed-by-trainee" not in [d.name() for d in test_host.conn.listAllDomains()]


def test_a_foreign_domain_under_our_name_but_another_uuid_is_left(test_host: Connection) -> None:
    test_host.conn.defineXML(DOMAIN.format("alice-vm"))
    ours = _owned("domain", "alice-vm", str(uuid.uuid4()), test_host.uri)
    assert _remove(test_host, ours) is None
    assert "alice-vm" in [d.name() for d in test_host.conn.listAllDomains()]


def test_an_object_of_another_libvirt_is_left_with_the_uri_to_use(test_host: Connection) -> None:
    note = _remove(test_host, _owned("network", "alice-net", None, "qemu:///other"))
    assert note is not None and "KVMLAB_URI=qemu:///other" in note


# -- host interfaces, mounts, namespaces (root) -----------------------------------------------------


def _link(*argv: str) -> None:
    subprocess.run(["ip", "link", *argv], check=True)


@as_root
def test_a_bridge_is_removed_and_a_non_bridge_of_that_name_is_left(test_host: Connection) -> None:
    name = f"kkb{TAG}"
    _link("add", name, "type", "veth", "peer", "name", f"kkq{TAG}")  # no dummy module here: a veth is "not a bridge"
    try:
        assert "not a bridge" in (_remove(test_host, _owned("bridge", name)) or "")
        assert (SYS_NET / name).exists()
    finally:
        _link("delete", name)
    _link("add", name, "type", "bridge")
    assert _remove(test_host, _owned("bridge", name)) is None and not (SYS_NET / name).exists()


@as_root
def test_a_veth_is_removed_and_a_non_veth_of_that_name_is_left(test_host: Connection) -> None:
    name = f"kkv{TAG}"
    _link("add", name, "type", "bridge")
    try:
        assert "not a veth" in (_remove(test_host, _owned("veth", name)) or "")
    finally:
        _link("delete", name)
    _link("add", name, "type", "veth", "peer", "name", f"kkp{TAG}")
    assert _remove(test_host, _owned("veth", name)) is None and not (SYS_NET / f"kkp{TAG}").exists()


@as_root
def test_a_namespace_with_a_process_inside_is_left(test_host: Connection) -> None:
    name = f"kkn{TAG}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    inside = subprocess.Popen(["ip", "netns", "exec", name, "sleep", "60"])
    try:
        for _ in range(100):
            if subprocess.run(["ip", "netns", "pids", name], capture_output=True, text=True).stdout.strip():
                break
        assert "still has processes" in (_remove(test_host, _owned("netns", name)) or "")
    finally:
        inside.kill()
        inside.wait()
    assert _remove(test_host, _owned("netns", name)) is None
    assert not Path(f"/run/netns/{name}").exists()


@as_root
def test_only_kvmlabs_own_tmpfs_is_unmounted(test_host: Connection, data: Path) -> None:
    point = data / "labs" / "mnt"
    point.mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "someone", str(point)], check=True)
    try:
        assert "did not mount" in (_remove(test_host, _owned("mount", point)) or "")
        assert os.path.ismount(point)
    finally:
        subprocess.run(["umount", str(point)], check=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", f"{MOUNT_SOURCE}-alice", str(point)], check=True)
    assert _remove(test_host, _owned("mount", point)) is None and not os.path.ismount(point)


def test_a_ksm_lease_nobody_holds_is_nothing_to_let_go(test_host: Connection, data: Path) -> None:
    assert _remove(test_host, _owned("ksm-lease", "alice/memory-virt")) is None
