"""The kinds of object a lab can own, in one table.

Each kind says, for a name it is given, whether such an object exists,
whether the one there is *still ours* (the safety rule that decides whether
``finish`` may touch it), and how to remove it. ``sandbox`` (claim, remove,
reconcile) and ``ownership`` (removal order, which kinds live in libvirt)
only iterate over :data:`KINDS`; adding a kind means adding one class here.

"Still ours" is never the name alone: libvirt objects kvmlab made are found
again by UUID, paths must sit inside kvmlab's data directory and never be
followed through a symlink, processes must still name the pid file they
were started with, interfaces must still be of the type kvmlab made.
"""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import libvirt

from kvmlab import paths
from kvmlab.connection import Connection, lookup
from kvmlab.procs import run

if TYPE_CHECKING:
    from kvmlab.ownership import Owned

# The resources each kind needs are imported where they are used: every command
# loads this table (ownership, status), few of them remove anything.
SYS_NET = Path("/sys/class/net")


class Kind:
    """One kind of owned object. ``remove`` returns a note when it left something alone on purpose."""

    name: ClassVar[str]
    in_libvirt: ClassVar[bool] = False  # lives on a libvirt connection (recorded with its URI and UUID)

    def exists(self, connection: Connection, name: str) -> bool:
        raise NotImplementedError

    def not_ours(self, connection: Connection, obj: Owned, trainee: str) -> str | None:
        """Why the object now at ``obj.name`` must be left alone; None when it is still ours."""
        return None

    def remove(self, connection: Connection, obj: Owned, trainee: str) -> str | None:
        if not self.exists(connection, obj.name):
            return None
        note = self.not_ours(connection, obj, trainee)
        if note is not None:
            return note
        return self._remove(connection, obj)

    def _remove(self, connection: Connection, obj: Owned) -> str | None:
        raise NotImplementedError

    def uuid(self, connection: Connection, name: str) -> str | None:
        """The UUID to record once an interrupted creation turns out to have happened."""
        return None


# -- libvirt objects ----------------------------------------------------------


class LibvirtKind(Kind):
    in_libvirt = True
    by_name: ClassVar[str]
    by_uuid: ClassVar[str]

    def find(self, conn: libvirt.virConnect, name: str, uuid: str | None = None) -> Any:
        """By UUID when kvmlab made it (a UUID match under another name was renamed: still ours), else by name."""
        if uuid:
            return lookup(lambda: getattr(conn, self.by_uuid)(uuid))
        return lookup(lambda: getattr(conn, self.by_name)(name))

    def exists(self, connection: Connection, name: str) -> bool:
        return self.find(connection.conn, name) is not None

    def uuid(self, connection: Connection, name: str) -> str | None:
        handle = self.find(connection.conn, name)
        return None if handle is None else str(handle.UUIDString())

    def remove(self, connection: Connection, obj: Owned, trainee: str) -> str | None:
        if obj.uri != connection.uri:
            where = f"lives on {obj.uri}, not {connection.uri}"
            return f"{obj.kind} {obj.name} {where}: run finish with KVMLAB_URI={obj.uri}"
        handle = self.find(connection.conn, obj.name, obj.uuid)
        if handle is None:
            return None
        note = self.not_ours_handle(handle, obj, trainee)
        if note is not None:
            return note
        persistent = handle.isPersistent()  # asked first: a transient object is gone once destroyed
        if handle.isActive():
            handle.destroy()
        if persistent:
            self.undefine(handle)
        return None

    def not_ours_handle(self, handle: Any, obj: Owned, trainee: str) -> str | None:
        return None

    def undefine(self, handle: Any) -> None:
        handle.undefine()


_UNDEFINE_FLAGS = (
    libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE
    | libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA
    | libvirt.VIR_DOMAIN_UNDEFINE_NVRAM
    | libvirt.VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA,
    libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE | libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA,
    0,
)


def owner_of(dom: libvirt.virDomain) -> str | None:
    """The trainee named in a domain's kvmlab owner mark, if it has one."""
    from kvmlab.guestxml import OWNER_NS
    from kvmlab.xmlviews import parse

    try:
        meta = dom.metadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, OWNER_NS, 0)
    except libvirt.libvirtError:
        return None
    return parse(meta, "owner metadata").get("trainee")


class DomainKind(LibvirtKind):
    name = "domain"
    by_name = "lookupByName"
    by_uuid = "lookupByUUIDString"

    def not_ours_handle(self, handle: Any, obj: Owned, trainee: str) -> str | None:
        # A name the trainee was handed (no UUID yet) whose domain carries another trainee's mark.
        owner = owner_of(handle)
        if obj.uuid is None and owner is not None and owner != trainee:
            return f"domain {obj.name} is marked as trainee {owner}'s: left alone"
        return None

    def undefine(self, handle: Any) -> None:
        """With its saved state, snapshot metadata and NVRAM, as far as the driver supports."""
        for flags in _UNDEFINE_FLAGS:
            try:
                handle.undefineFlags(flags)
                return
            except libvirt.libvirtError as err:
                if err.get_error_code() != libvirt.VIR_ERR_INVALID_ARG or flags == 0:
                    raise


class NetworkKind(LibvirtKind):
    name = "network"
    by_name = "networkLookupByName"
    by_uuid = "networkLookupByUUIDString"


class PoolKind(LibvirtKind):
    name = "pool"
    by_name = "storagePoolLookupByName"
    by_uuid = "storagePoolLookupByUUIDString"


# -- things in kvmlab's data directory ------------------------------------------


def inside_data_dir(path: Path) -> bool:
    root = paths.data_dir().resolve()
    # Resolve the parent, not the path: a planted symlink is judged by where it
    # sits, and is then unlinked itself, never followed.
    parent = path.parent.resolve()
    return parent == root or root in parent.parents


def _outside(path: Path) -> str | None:
    return None if inside_data_dir(path) else f"{path} is outside kvmlab's data directory: left alone"


class PathKind(Kind):
    def exists(self, connection: Connection, name: str) -> bool:
        return os.path.lexists(name)


class FileKind(PathKind):
    name = "file"

    def not_ours(self, connection: Connection, obj: Owned, trainee: str) -> str | None:
        path = Path(obj.name)
        if not inside_data_dir(path):
            return _outside(path)
        if stat.S_ISDIR(path.lstat().st_mode):
            return f"{path} is a directory, not the file kvmlab expected: left alone"
        return None

    def _remove(self, connection: Connection, obj: Owned) -> str | None:
        Path(obj.name).unlink(missing_ok=True)
        return None


class DirKind(PathKind):
    name = "dir"

    def not_ours(self, connection: Connection, obj: Owned, trainee: str) -> str | None:
        path = Path(obj.name)
        if not inside_data_dir(path):
            return _outside(path)
        if not stat.S_ISDIR(path.lstat().st_mode):
            return f"{path} is not a directory: left alone"
        return None

    def _remove(self, connection: Connection, obj: Owned) -> str | None:
        path = Path(obj.name)
        try:
            path.rmdir()
        except OSError:
            left = sorted(p.name for p in path.iterdir())
            return f"{path} still holds files kvmlab did not make ({', '.join(left[:5])}): left alone"
        return None


class ProcessKind(PathKind):
    """A hand-started process (QEMU without libvirt), named by its pid file."""

    name = "process"

    def not_ours(self, connection: Connection, obj: Owned, trainee: str) -> str | None:
        path = Path(obj.name)
        outside = _outside(path)
        if outside is not None:
            return outside
        if not path.is_symlink() and not path.is_file():
            return f"{path} is not a pid file: left alone"
        return None

    def _remove(self, connection: Connection, obj: Owned) -> str | None:
        path = Path(obj.name)
        if path.is_symlink():
            path.unlink()  # a planted link is removed itself, never followed or read
            return None
        from kvmlab.resources.process import PidFileProcess

        # Only a process whose command line still names this pid file is signalled.
        note = PidFileProcess(path).stop()
        path.unlink(missing_ok=True)  # QEMU removes its pid file on exit, other programs may not
        return note


class LibvirtdKind(PathKind):
    """A second libvirtd a lab started, named by its own directory (kvmlab.resources.libvirtd).

    Its guests are all the lab's: it was started empty and answers only root
    on its own socket. The directory goes only once no process of it is left.
    """

    name = "libvirtd"

    def not_ours(self, connection: Connection, obj: Owned, trainee: str) -> str | None:
        root = Path(obj.name)
        outside = _outside(root)
        if outside is not None:
            return outside
        if root.is_symlink() or not root.is_dir():
            return f"{root} is not the directory of a libvirtd kvmlab started: left alone"
        return None

    def _remove(self, connection: Connection, obj: Owned) -> str | None:
        from kvmlab.resources.libvirtd import PrivateLibvirtd

        root = Path(obj.name)
        daemon = PrivateLibvirtd(root)
        notes = daemon.stop()
        if not daemon.is_stopped:
            return "; ".join([*notes, f"the libvirtd of {root} still runs: its directory is left"])
        shutil.rmtree(root)  # never follows a symlink out of it
        return "; ".join(notes) or None


MOUNT_SOURCE = "kvmlab"  # what kvmlab's own tmpfs mounts are called in /proc/self/mountinfo: kvmlab-TRAINEE


def mount_source(path: Path) -> tuple[str, str] | None:
    """(filesystem type, source) of the mount at ``path`` (the topmost one); None when nothing is mounted there."""
    found = None
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        if len(fields) > 4 and fields[4] == str(path) and " - " in line:
            fstype, source = line.split(" - ", 1)[1].split()[:2]
            found = (fstype, source)
    return found


class MountKind(Kind):
    """A small tmpfs a lab mounts in its directory; anything else mounted there is left alone."""

    name = "mount"

    def exists(self, connection: Connection, name: str) -> bool:
        return os.path.ismount(name)

    def not_ours(self, connection: Connection, obj: Owned, trainee: str) -> str | None:
        path = Path(obj.name)
        if not inside_data_dir(path):
            return f"{path} is outside kvmlab's data directory: left mounted"
        mounted = mount_source(path)
        if mounted is None or mounted[0] != "tmpfs" or not mounted[1].startswith(MOUNT_SOURCE):
            return f"{path} has {mounted} mounted on it, which kvmlab did not mount: left alone"
        return None

    def _remove(self, connection: Connection, obj: Owned) -> str | None:
        if run(["umount", obj.name], check=False).returncode != 0:
            run(["umount", "--lazy", obj.name])  # busy (a shell inside it): detach now, freed when it leaves
        return None


# -- host interfaces and host-wide settings ------------------------------------------


class BridgeKind(Kind):
    name = "bridge"

    def exists(self, connection: Connection, name: str) -> bool:
        return (SYS_NET / name).exists()

    def not_ours(self, connection: Connection, obj: Owned, trainee: str) -> str | None:
        if not (SYS_NET / obj.name / "bridge").is_dir():
            return f"interface {obj.name} is not a bridge: left alone"
        return None

    def _remove(self, connection: Connection, obj: Owned) -> str | None:
        run(["ip", "link", "delete", "dev", obj.name, "type", "bridge"])
        return None


class VethKind(Kind):
    """This host's end of a veth pair (deleting it deletes its peer too)."""

    name = "veth"

    def exists(self, connection: Connection, name: str) -> bool:
        return (SYS_NET / name).exists()

    def not_ours(self, connection: Connection, obj: Owned, trainee: str) -> str | None:
        from kvmlab.resources.netns import Veth

        return None if Veth(obj.name).is_veth else f"interface {obj.name} is not a veth: left alone"

    def _remove(self, connection: Connection, obj: Owned) -> str | None:
        run(["ip", "link", "delete", "dev", obj.name])
        return None


class NetnsKind(Kind):
    """A network namespace, removed once nothing runs in it (a process there would keep it alive unnamed)."""

    name = "netns"

    def exists(self, connection: Connection, name: str) -> bool:
        from kvmlab.resources.netns import NetNamespace

        return NetNamespace(name).exists

    def not_ours(self, connection: Connection, obj: Owned, trainee: str) -> str | None:
        from kvmlab.resources.netns import NetNamespace

        pids = NetNamespace(obj.name).pids()
        return f"network namespace {obj.name} still has processes {pids[:5]}: left alone" if pids else None

    def _remove(self, connection: Connection, obj: Owned) -> str | None:
        run(["ip", "netns", "delete", obj.name])
        return None


class KsmLeaseKind(Kind):
    """KSM's host-wide knobs, held by "trainee/lab" (kvmlab.resources.hostmem); letting go writes them back."""

    name = "ksm-lease"

    def exists(self, connection: Connection, name: str) -> bool:
        from kvmlab.resources import hostmem

        return hostmem.ksm_lease_held(name)

    def _remove(self, connection: Connection, obj: Owned) -> str | None:
        from kvmlab.resources import hostmem

        return hostmem.release_ksm(obj.name)


# Removal order: a second libvirtd goes before everything (its guests stop with
# it); a hand-started process next (it may hold files open that go later); then
# guests before the networks, pools and bridges they use; a veth and the netns it
# leads into once nothing runs inside; a tmpfs once the guests using it are gone;
# the KSM lease once the lab's guests are gone; files before their directories.
KINDS: dict[str, Kind] = {
    kind.name: kind
    for kind in (
        LibvirtdKind(),
        ProcessKind(),
        DomainKind(),
        NetworkKind(),
        PoolKind(),
        BridgeKind(),
        VethKind(),
        NetnsKind(),
        MountKind(),
        KsmLeaseKind(),
        FileKind(),
        DirKind(),
    )
}
REMOVAL_ORDER = tuple(KINDS)
LIBVIRT_KINDS = frozenset(name for name, kind in KINDS.items() if kind.in_libvirt)


def libvirt_kind(name: str) -> LibvirtKind:
    kind = KINDS[name]
    assert isinstance(kind, LibvirtKind), f"{name} is not a libvirt kind"
    return kind
