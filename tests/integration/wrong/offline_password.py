from __future__ import annotations

from kvmlab import guestfs
from kvmlab.guest.disk import sha512_crypt
from kvmlab.labs.offline_password import PasswordParams, shut_down
from kvmlab.procs import run
from kvmlab.toolkit import Toolkit
from tests.integration.wrong import Wrong

LAB = "offline-password"


def _params(s: Toolkit) -> PasswordParams:
    p = s.params
    assert isinstance(p, PasswordParams)
    return p


def _customize(s: Toolkit) -> None:
    p = _params(s)
    guestfs.run_tool(["virt-customize", "-a", p.disk, "--root-password", f"password:{p.password}"], s.verdict.accel)


def changed_inside_running_guest(s: Toolkit) -> None:
    """Logged in and edited /etc/shadow of the running guest (its vda is mounted at /mnt/root), then shut down."""
    p = _params(s)
    guest = s.host.domain(p.domain).guest
    assert guest is not None
    guest.wait(60)
    digest = sha512_crypt(p.password)
    script = f"sed -i 's|^root:[^:]*:|root:{digest}:|' /mnt/root/etc/shadow && sync"
    assert guest.run(["/bin/sh", "-c", script]).exitcode == 0
    shut_down(s, p.domain)


def shut_down_but_not_changed(s: Toolkit) -> None:
    shut_down(s, _params(s).domain)


def destroyed_then_customized(s: Toolkit) -> None:
    """Pulled the plug (virsh destroy) instead of a shutdown, then did the right edit."""
    s.virsh("destroy", _params(s).domain)
    _customize(s)


def saved_instead_of_shut_down(s: Toolkit) -> None:
    """virsh managedsave (the guest's memory saved, its cached view of the disk with it), then the right edit."""
    p = _params(s)
    s.virsh("managedsave", p.domain)
    _customize(s)


def writer_killed_mid_write(s: Toolkit) -> None:
    """The right edit, then a second writer dies before flushing its qcow2 metadata.

    Lazy refcounts defer refcount updates to a clean close; qemu-io's
    ``abort`` simulates the crash. The write lands in free space near the end
    of the 64 MiB filesystem, so /etc/shadow is untouched: only the qcow2
    metadata is inconsistent, as after a killed or crashed writer.
    """
    p = _params(s)
    shut_down(s, p.domain)
    _customize(s)
    run(["qemu-img", "amend", "-f", "qcow2", "-o", "lazy_refcounts=on", p.disk])
    crash = run(
        ["prlimit", "--core=0", "qemu-io", "-f", "qcow2", "-c", "write -P 0x5a 60M 64k", "-c", "abort", p.disk],
        check=False,
    )
    assert crash.returncode != 0, "qemu-io should have aborted"


WRONG = [
    Wrong("changed-inside-the-running-guest", changed_inside_running_guest, frozenset({"edited-offline"})),
    Wrong("shut-down-but-not-changed", shut_down_but_not_changed, frozenset({"password-set", "edited-offline"})),
    Wrong("virsh-destroy-instead-of-shutdown", destroyed_then_customized, frozenset({"shutdown-clean"})),
    Wrong("writer-killed-mid-write", writer_killed_mid_write, frozenset({"image-clean"})),
    Wrong("managedsave-instead-of-shutdown", saved_instead_of_shut_down, frozenset({"shutdown-clean"})),
]
