"""Making and removing owned objects. The only code in kvmlab that deletes anything.

Creation goes claim -> record (pending) -> create -> confirm; removal works
from the record alone and re-finds libvirt objects by UUID where kvmlab made
them, so a foreign object renamed to look like the trainee's is left alone.
"""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path
from typing import Any

import libvirt

from kvmlab import paths
from kvmlab.connection import Connection, lookup
from kvmlab.errors import NotOwned
from kvmlab.guestxml import OWNER_NS
from kvmlab.ownership import LIBVIRT_KINDS, Owned, Ownership
from kvmlab.procs import run
from kvmlab.resources import hostmem
from kvmlab.resources.bridge import SYS_NET
from kvmlab.resources.libvirtd import PrivateLibvirtd
from kvmlab.resources.netns import NetNamespace, Veth
from kvmlab.resources.process import PidFileProcess
from kvmlab.xmlviews import parse

_LOOKUP_BY_NAME = {
    "domain": "lookupByName",
    "network": "networkLookupByName",
    "pool": "storagePoolLookupByName",
}
_LOOKUP_BY_UUID = {
    "domain": "lookupByUUIDString",
    "network": "networkLookupByUUIDString",
    "pool": "storagePoolLookupByUUIDString",
}


def find_libvirt(conn: libvirt.virConnect, kind: str, name: str, uuid: str | None = None) -> Any:
    """A domain, network or pool: by UUID when kvmlab made it, else by name; None if absent."""
    if uuid:
        # A UUID match under another name means it was renamed: still ours.
        return lookup(lambda: getattr(conn, _LOOKUP_BY_UUID[kind])(uuid))
    return lookup(lambda: getattr(conn, _LOOKUP_BY_NAME[kind])(name))


def exists(connection: Connection, kind: str, name: str) -> bool:
    if kind in LIBVIRT_KINDS:
        return find_libvirt(connection.conn, kind, name) is not None
    if kind == "bridge":
        return (SYS_NET / name).exists()
    if kind == "mount":
        return os.path.ismount(name)
    if kind == "ksm-lease":
        return hostmem.ksm_lease_held(name)
    if kind == "netns":
        return NetNamespace(name).exists
    if kind == "veth":
        return Veth(name).exists
    return os.path.lexists(name)


def claim(owners: Ownership, connection: Connection, kind: str, name: str, lab: str, state: str = "pending") -> Owned:
    """Reserve ``name`` for ``lab``: refuse if something not ours already has it."""
    uri = connection.uri if kind in LIBVIRT_KINDS else None
    mine = owners.record.find(kind, name, uri)
    if mine is not None:
        if mine.lab != lab:
            raise NotOwned(
                f"{kind} {name} belongs to your lab {mine.lab}", f"finish that lab first: kvmlab lab finish {mine.lab}"
            )
        return mine
    if exists(connection, kind, name):
        raise NotOwned(
            f"a {kind} named {name} already exists and kvmlab did not make it for trainee {owners.trainee.name}",
            "kvmlab never touches what it does not own: pick another trainee name (--trainee NAME), "
            "or remove that object yourself if you are sure it is yours",
        )
    return owners.add(Owned(kind=kind, name=name, lab=lab, state=state, uri=uri))


def _remove_libvirt(conn: libvirt.virConnect, obj: Owned, trainee: str) -> str | None:
    handle = find_libvirt(conn, obj.kind, obj.name, obj.uuid)
    if handle is None:
        return None
    if obj.kind == "domain":
        assert isinstance(handle, libvirt.virDomain)
        owner = owner_of(handle)
        if obj.uuid is None and owner is not None and owner != trainee:
            return f"domain {obj.name} is marked as trainee {owner}'s: left alone"
        persistent = handle.isPersistent()  # asked first: a transient object is gone once destroyed
        if handle.isActive():
            handle.destroy()
        if persistent:
            _undefine_domain(handle)
    elif obj.kind == "network":
        assert isinstance(handle, libvirt.virNetwork)
        persistent = handle.isPersistent()  # asked first: a transient object is gone once destroyed
        if handle.isActive():
            handle.destroy()
        if persistent:
            handle.undefine()
    elif obj.kind == "pool":
        assert isinstance(handle, libvirt.virStoragePool)
        persistent = handle.isPersistent()  # asked first: a transient object is gone once destroyed
        if handle.isActive():
            handle.destroy()
        if persistent:
            handle.undefine()
    return None


_UNDEFINE_FLAGS = (
    libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE
    | libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA
    | libvirt.VIR_DOMAIN_UNDEFINE_NVRAM
    | libvirt.VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA,
    libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE | libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA,
    0,
)


def _undefine_domain(dom: libvirt.virDomain) -> None:
    """Undefine with its saved state, snapshot metadata and NVRAM, as far as the driver supports."""
    for flags in _UNDEFINE_FLAGS:
        try:
            dom.undefineFlags(flags)
            return
        except libvirt.libvirtError as err:
            if err.get_error_code() != libvirt.VIR_ERR_INVALID_ARG or flags == 0:
                raise


def owner_of(dom: libvirt.virDomain) -> str | None:
    """The trainee named in a domain's kvmlab owner mark, if it has one."""
    try:
        meta = dom.metadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, OWNER_NS, 0)
    except libvirt.libvirtError:
        return None
    return parse(meta, "owner metadata").get("trainee")


def _inside_data_dir(path: Path) -> bool:
    root = paths.data_dir().resolve()
    # Resolve the parent, not the path: a planted symlink is judged by where it
    # sits, and is then unlinked itself, never followed.
    parent = path.parent.resolve()
    return parent == root or root in parent.parents


def _remove_path(obj: Owned) -> str | None:
    path = Path(obj.name)
    try:
        st = path.lstat()
    except FileNotFoundError:
        return None
    if not _inside_data_dir(path):
        return f"{path} is outside kvmlab's data directory: left alone"
    if obj.kind == "file":
        if stat.S_ISDIR(st.st_mode):
            return f"{path} is a directory, not the file kvmlab expected: left alone"
        path.unlink()
        return None
    if not stat.S_ISDIR(st.st_mode):
        return f"{path} is not a directory: left alone"
    try:
        path.rmdir()
    except OSError:
        left = sorted(p.name for p in path.iterdir())
        return f"{path} still holds files kvmlab did not make ({', '.join(left[:5])}): left alone"
    return None


def _remove_process(obj: Owned) -> str | None:
    """Stop a hand-started process named by its pid file, then remove the pid file.

    Only a pid file inside kvmlab's data directory is trusted, and only a
    process whose command line still names that pid file is signalled.
    """
    path = Path(obj.name)
    if not os.path.lexists(path):
        return None
    if not _inside_data_dir(path):
        return f"{path} is outside kvmlab's data directory: left alone"
    if path.is_symlink():
        path.unlink()  # a planted link is removed itself, never followed or read
        return None
    if not path.is_file():
        return f"{path} is not a pid file: left alone"
    note = PidFileProcess(path).stop()
    path.unlink(missing_ok=True)  # QEMU removes its pid file on exit, other programs may not
    return note


def _remove_bridge(obj: Owned) -> str | None:
    if not (SYS_NET / obj.name / "bridge").is_dir():
        return None
    run(["ip", "link", "delete", "dev", obj.name, "type", "bridge"])
    return None


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


def _remove_mount(obj: Owned) -> str | None:
    """Unmount a tmpfs kvmlab mounted for the lab; anything else mounted there is left alone."""
    path = Path(obj.name)
    if not os.path.ismount(path):
        return None
    if not _inside_data_dir(path):
        return f"{path} is outside kvmlab's data directory: left mounted"
    mounted = mount_source(path)
    if mounted is None or mounted[0] != "tmpfs" or not mounted[1].startswith(MOUNT_SOURCE):
        return f"{path} has {mounted} mounted on it, which kvmlab did not mount: left alone"
    if run(["umount", str(path)], check=False).returncode != 0:
        run(["umount", "--lazy", str(path)])  # busy (a shell inside it): detach now, freed when it leaves
    return None


def _remove_libvirtd(obj: Owned) -> str | None:
    """A second libvirtd a lab started: its guests, the daemon, then its private directory.

    The daemon is named by its own directory (configuration, sockets, state,
    logs: see kvmlab.resources.libvirtd). Every guest it runs is the lab's:
    it was started empty, answering root only on its own socket. The
    directory goes only once no process of the daemon is left.
    """
    root = Path(obj.name)
    if not os.path.lexists(root):
        return None
    if not _inside_data_dir(root):
        return f"{root} is outside kvmlab's data directory: left alone"
    if root.is_symlink() or not root.is_dir():
        return f"{root} is not the directory of a libvirtd kvmlab started: left alone"
    daemon = PrivateLibvirtd(root)
    notes = daemon.stop()
    if not daemon.is_stopped:
        return "; ".join([*notes, f"the libvirtd of {root} still runs: its directory is left"])
    shutil.rmtree(root)  # never follows a symlink out of it
    return "; ".join(notes) or None


def _remove_veth(obj: Owned) -> str | None:
    """This host's end of a veth pair (deleting it deletes its peer too); anything else of that name is left."""
    veth = Veth(obj.name)
    if not veth.exists:
        return None
    if not veth.is_veth:
        return f"interface {obj.name} is not a veth: left alone"
    run(["ip", "link", "delete", "dev", obj.name])
    return None


def _remove_netns(obj: Owned) -> str | None:
    """A network namespace, once nothing runs in it (a process there would keep it alive unnamed)."""
    netns = NetNamespace(obj.name)
    if not netns.exists:
        return None
    pids = netns.pids()
    if pids:
        return f"network namespace {obj.name} still has processes {pids[:5]}: left alone"
    run(["ip", "netns", "delete", obj.name])
    return None


def remove(connection: Connection, obj: Owned, trainee: str) -> str | None:
    """Remove one owned object. Returns a note when something was left on purpose."""
    if obj.kind in LIBVIRT_KINDS:
        if obj.uri != connection.uri:
            return (
                f"{obj.kind} {obj.name} lives on {obj.uri}, not {connection.uri}: run finish with KVMLAB_URI={obj.uri}"
            )
        return _remove_libvirt(connection.conn, obj, trainee)
    if obj.kind == "bridge":
        return _remove_bridge(obj)
    if obj.kind == "process":
        return _remove_process(obj)
    if obj.kind == "mount":
        return _remove_mount(obj)
    if obj.kind == "ksm-lease":
        return hostmem.release_ksm(obj.name)
    if obj.kind == "libvirtd":
        return _remove_libvirtd(obj)
    if obj.kind == "veth":
        return _remove_veth(obj)
    if obj.kind == "netns":
        return _remove_netns(obj)
    return _remove_path(obj)


def reconcile(owners: Ownership, connection: Connection) -> None:
    """After an interruption: pending objects that exist are ours, the rest are dropped."""
    for obj in list(owners.record.objects):
        if obj.state == "pending":
            if obj.kind in LIBVIRT_KINDS and obj.uri != connection.uri:
                continue
            if exists(connection, obj.kind, obj.name):
                handle = find_libvirt(connection.conn, obj.kind, obj.name) if obj.kind in LIBVIRT_KINDS else None
                owners.confirm(obj, handle.UUIDString() if handle is not None else None)
            else:
                owners.drop(obj)
