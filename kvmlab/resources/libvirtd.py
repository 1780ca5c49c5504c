"""A second libvirtd on this host, as a migration target: its own root, namespaces and socket.

A privileged libvirtd keeps its state in fixed places (``/etc/libvirt``,
``/run/libvirt``, ``/var/lib/libvirt``, ``/var/log/libvirt``,
``/var/cache/libvirt``); two of them sharing those would adopt each other's
guests. So the second daemon runs in a mount namespace where a directory of
the lab is bound over each of them, in a network namespace of the lab (its
migration traffic stays on a veth pair), and in a UTS namespace with a host
name of its own. The system's ``/etc/libvirt`` is never read or changed.

Its configuration differs from a default one in three ways, each for a
reason found on this host:

* ``host_uuid``: libvirt refuses to migrate a guest to a host with its own
  UUID ("Attempt to migrate guest to the same host").
* QEMU runs as root with ``dynamic_ownership = 0``: with both daemons
  chown-ing the same kernel and disk files and counting their users in the
  same ``trusted.libvirt.security.*`` attributes, each undid the other's
  labels (the system daemon then refused to start guests: "Setting different
  DAC user or group ... which is already in use"). As root, this daemon's
  QEMU opens the files as they are and changes nothing. It also gets
  userfaultfd, which post-copy needs on the target (an unprivileged QEMU gets
  "Postcopy is not supported" while ``vm.unprivileged_userfaultfd`` is 0).
* ``stdio_handler = "file"`` and no cgroup controllers: no virtlogd and no
  cgroups shared with the system daemon.

Layout under its root: ``libvirtd.pid``, ``etc/`` (libvirtd.conf,
qemu.conf), ``run/`` (``libvirt-sock``, ``qemu/NAME.pid``), ``lib/``,
``log/`` (``libvirtd.log``, ``qemu/NAME.log``), ``cache/``.
"""

from __future__ import annotations

import shutil
import time
from functools import partial
from pathlib import Path

import libvirt

from kvmlab.connection import open_connection
from kvmlab.errors import CommandFailed, KvmlabError
from kvmlab.procs import run, which
from kvmlab.resources.process import PidFileProcess, stop_process

# this daemon's directory -> the path libvirtd expects it at (inside its mount namespace)
BIND = {
    "etc": "/etc/libvirt",
    "run": "/run/libvirt",
    "lib": "/var/lib/libvirt",
    "log": "/var/log/libvirt",
    "cache": "/var/cache/libvirt",
}
SYSTEM_CAPS_CACHE = Path("/var/cache/libvirt/qemu/capabilities")  # copied (read) to skip QEMU's 8 s probe

# Run inside the new namespaces: positional arguments, never pasted into the script.
_LAUNCH = (
    'hostname "$1" && '
    + " && ".join(f'mount --bind "$2/{d}" {target}' for d, target in BIND.items())
    + ' && exec "$3" --config "$2/etc/libvirtd.conf" --pid-file "$2/libvirtd.pid" --daemon'
)


def libvirtd_conf(host_uuid: str) -> str:
    return "\n".join(
        [
            "# kvmlab: a second libvirtd, reachable only on its own unix socket (root only, no TCP)",
            'unix_sock_group = "root"',
            'unix_sock_ro_perms = "0700"',
            'unix_sock_rw_perms = "0700"',
            'unix_sock_admin_perms = "0700"',
            'auth_unix_ro = "none"',
            'auth_unix_rw = "none"',
            "# libvirt refuses to migrate to a host whose UUID is its own",
            f'host_uuid = "{host_uuid}"',
            'log_outputs = "3:file:/var/log/libvirt/libvirtd.log"',
            "",
        ]
    )


def qemu_conf(migration_address: str) -> str:
    return "\n".join(
        [
            "# kvmlab: see kvmlab/resources/libvirtd.py for why each line is here",
            'user = "root"',
            'group = "root"',
            "dynamic_ownership = 0",
            "remember_owner = 0",
            'stdio_handler = "file"',
            "cgroup_controllers = [ ]",
            "# incoming migrations listen on the namespace's veth address only",
            f'migration_address = "{migration_address}"',
            "",
        ]
    )


class PrivateLibvirtd:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    @property
    def pid_file(self) -> Path:
        return self.root / "libvirtd.pid"

    @property
    def socket(self) -> Path:
        return self.root / "run" / "libvirt-sock"

    @property
    def uri(self) -> str:
        return f"qemu+unix:///system?socket={self.socket}"

    @property
    def log(self) -> Path:
        return self.root / "log" / "libvirtd.log"

    @property
    def qemu_state(self) -> Path:
        return self.root / "run" / "qemu"

    @property
    def is_running(self) -> bool:
        return PidFileProcess(self.pid_file).is_running

    def prepare(self, host_uuid: str, migration_address: str) -> None:
        """Its directories and configuration (kept if they exist: a trainee may have edited them)."""
        for sub in BIND:
            (self.root / sub).mkdir(mode=0o755, parents=True, exist_ok=True)
        for path, text in (
            (self.root / "etc" / "libvirtd.conf", libvirtd_conf(host_uuid)),
            (self.root / "etc" / "qemu.conf", qemu_conf(migration_address)),
        ):
            if not path.exists():
                path.write_text(text)
        cache = self.root / "cache" / "qemu" / "capabilities"
        cache.mkdir(mode=0o700, parents=True, exist_ok=True)
        for probed in SYSTEM_CAPS_CACHE.glob("*.xml") if SYSTEM_CAPS_CACHE.is_dir() else []:
            if not (cache / probed.name).exists():
                shutil.copyfile(probed, cache / probed.name)

    def launch_argv(self, netns: str, hostname: str) -> list[str]:
        libvirtd = which("libvirtd", "libvirt-daemon-system")
        script = ["/bin/sh", "-c", _LAUNCH, "kvmlab-libvirtd", hostname, str(self.root), libvirtd]
        return ["ip", "netns", "exec", netns, "unshare", "--mount", "--uts", "--propagation", "private", "--", *script]

    def launch(self, netns: str, hostname: str, timeout: float = 30.0) -> None:
        """Start it (``--daemon`` returns once it is set up) and wait until it answers on its socket."""
        run(self.launch_argv(netns, hostname), timeout=timeout)
        deadline = time.monotonic() + timeout
        while True:
            try:
                open_connection(self.uri).close()
                return
            except KvmlabError as err:
                if time.monotonic() > deadline or not self.is_running:
                    raise CommandFailed(
                        f"the second libvirtd did not answer on {self.socket}: {err.message}", f"read {self.log}"
                    ) from err
                time.sleep(0.2)

    def orphans(self) -> dict[int, str]:
        """QEMUs this daemon started that still run, pid -> domain name, proven by their pid files.

        libvirt writes ``run/qemu/NAME.pid`` for each QEMU it starts. The pid in
        it counts only if that process runs ``-name guest=NAME,...`` *and*
        sees, at ``/run/libvirt/qemu/NAME.pid`` in its own mount namespace,
        this very file: only a QEMU of this daemon can.
        """
        found: dict[int, str] = {}
        for pid_file in sorted(self.qemu_state.glob("*.pid")) if self.qemu_state.is_dir() else []:
            pid = PidFileProcess(pid_file).pid
            name = pid_file.stem
            if pid is None:
                continue
            try:
                argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
                seen = Path(f"/proc/{pid}/root") / BIND["run"].lstrip("/") / "qemu" / pid_file.name
                same = seen.samefile(pid_file)
            except OSError:
                continue
            if same and any(arg.startswith(f"guest={name},".encode()) for arg in argv):
                found[pid] = name
        return found

    def stop(self) -> list[str]:
        """Destroy and undefine every guest it has, stop it, then stop any QEMU of it left behind.

        Everything this daemon manages belongs to the lab that started it:
        it was made empty, with its own configuration, and answers only root
        on its own socket. Returns notes about what could not be stopped.
        """
        notes: list[str] = []
        if self.is_running:
            try:
                conn = open_connection(self.uri)
            except KvmlabError as err:
                notes.append(err.message)
            else:
                try:
                    for dom in conn.listAllDomains(0):
                        persistent = dom.isPersistent()
                        if dom.isActive():
                            dom.destroy()
                        if persistent:
                            dom.undefineFlags(libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE)
                finally:
                    conn.close()
            note = PidFileProcess(self.pid_file).stop()
            if note:
                notes.append(note)
        for pid, name in self.orphans().items():
            note = stop_process(pid, partial(self._orphan_still, pid, name), what=f"pid {pid}")
            if note:
                notes.append(f"QEMU of {name}: {note}")
        return notes

    def _orphan_still(self, pid: int, name: str, _argv: list[str]) -> str | None:
        if self.orphans().get(pid) == name:
            return None
        return f"pid {pid} is no longer the process kvmlab started: left alone"

    @property
    def is_stopped(self) -> bool:
        return not self.is_running and not self.orphans()
