"""Checks of the offline-password lab (seed question 13).

What can be proven from the host, and how:
- the guest is shut off now (libvirt);
- how it last stopped (libvirt's log: ``reason=shutdown`` or ``destroyed``);
- the password: /etc/shadow read out of the image without booting it
  (qemu-img convert + debugfs) and checked with crypt(3);
- *when* /etc/shadow was rewritten: its inode change time, set by the
  kernel that wrote it (the libguestfs appliance, or the guest), compared
  with the guest's runs in libvirt's log. ctime cannot be set with touch(1);
  a clock moved on purpose could fool it, nothing short of that can;
- the qcow2 metadata is consistent (``qemu-img check``).
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from kvmlab import shadow
from kvmlab.grading import Check, check
from kvmlab.host import Host
from kvmlab.labs.offline_password import PasswordParams
from kvmlab.resources.imagefs import FileTimes, ImageUnreadable
from kvmlab.resources.runlog import Run

# Guest and appliance clocks come from the host's RTC, within a second or so.
CLOCK_SLACK = 2.0


def _hms(t: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(t))


def _span(run: Run) -> str:
    return f"{_hms(run.started)}-{_hms(run.stopped) if run.stopped is not None else 'now'}"


def _verdict_line(said: str) -> str:
    """qemu-img check's verdict ("No errors were found", "2 errors were found", "leaked clusters")."""
    lines = said.splitlines()
    return next(
        (line for line in lines if "error" in line.lower() or "leak" in line.lower()), lines[-1] if lines else ""
    )


def checks(host: Host, p: PasswordParams) -> Iterator[Check]:
    vm = host.domain(p.domain)
    yield check(
        "guest-shut-off",
        f"the guest {p.domain} is shut off",
        vm.state == "shut off",
        expected="shut off",
        actual=vm.state,
        hint=f"virsh shutdown {p.domain}, then wait for `virsh domstate {p.domain}` to say shut off: "
        "libguestfs must never write a disk that a running guest is using",
    )

    runs = vm.runs()
    last = runs[-1] if runs else None
    yield check(
        "shutdown-clean",
        "it was shut down from inside (virsh shutdown), not pulled from the power (virsh destroy)",
        last is not None and last.reason == "shutdown",
        expected="last stop: reason=shutdown",
        actual="no record in libvirt's log"
        if last is None
        else ("still running" if last.stopped is None else f"last stop: reason={last.reason}"),
        hint="virsh shutdown presses the ACPI power button and the guest syncs and powers off; virsh destroy "
        "is a power cut (the guest's filesystem is left with an unreplayed journal)",
    )

    shadow_text: str | None = None
    times: FileTimes | None = None
    unreadable = ""
    try:
        with host.image(p.disk).files() as fs:
            shadow_text = fs.read("/etc/shadow")
            times = fs.times("/etc/shadow")
    except ImageUnreadable as err:
        unreadable = err.message

    entry = shadow.entry(shadow_text, p.user) if shadow_text is not None else None
    matches = entry is not None and shadow.verify(p.password, entry.hash)
    if unreadable:
        actual = unreadable
    elif shadow_text is None:
        actual = "the image has no /etc/shadow"
    elif entry is None:
        actual = f"/etc/shadow has no {p.user} entry"
    elif matches:
        actual = f"{p.user}'s hash ({entry.scheme}) matches {p.password}"
    elif shadow.verify(p.old_password, entry.hash):
        actual = f"still the old password ({p.old_password})"
    else:
        actual = f"{p.user}'s hash ({entry.scheme}) matches neither {p.password} nor the old password"
    yield check(
        "password-set",
        f"/etc/shadow in the image accepts {p.user}'s new password {p.password}",
        matches,
        expected=f"{p.user}:{p.password}",
        actual=actual,
        hint=f"virt-customize -a {p.disk} --root-password password:{p.password} (guest shut off); "
        "or virt-edit / guestfish on /etc/shadow with a hash from `openssl passwd -6`",
    )

    yield _edited_offline(p, runs, times, unreadable)

    clean, said = host.image(p.disk).check()
    yield check(
        "image-clean",
        "qemu-img check finds no errors in the image",
        clean,
        expected="No errors were found on the image.",
        actual=_verdict_line(said),
        hint=f"qemu-img check {p.disk} lists the damage; two writers on one qcow2 (a running guest and an "
        "offline tool), or a writer killed mid-way, corrupt its metadata: restore from backup",
    )


def _edited_offline(p: PasswordParams, runs: list[Run] | None, times: FileTimes | None, unreadable: str) -> Check:
    title = "/etc/shadow was rewritten while the guest was shut off"
    expected = "changed after the lab started, outside every run of the guest"
    hint = (
        "shut the guest down first, then edit its disk: changing it from inside the running guest, or "
        "behind the back of a running QEMU, is not the offline change this lab asks for"
    )
    if unreadable or times is None:
        return check(
            "edited-offline", title, False, expected=expected, actual=unreadable or "no /etc/shadow", hint=hint
        )
    if not runs:
        return check(
            "edited-offline",
            title,
            False,
            expected=expected,
            actual="libvirt's log of this guest has no record of its runs",
            hint="the grader reads /var/log/libvirt/qemu/DOMAIN.log: was it removed?",
        )
    changed = times.ctime
    now = time.time()
    if changed < runs[0].started - CLOCK_SLACK:
        actual = (
            f"unchanged since the lab started (last change {time.strftime('%Y-%m-%d %H:%M', time.localtime(changed))})"
        )
        unchanged = f"nothing has rewritten /etc/shadow yet: with the guest shut off, virt-customize -a {p.disk} ..."
        return check("edited-offline", title, False, expected=expected, actual=actual, hint=unchanged)
    during = next((r for r in runs if r.covers(changed, now, CLOCK_SLACK)), None)
    if during is not None:
        actual = f"changed at {_hms(changed)}, while the guest was running ({_span(during)})"
        return check("edited-offline", title, False, expected=expected, actual=actual, hint=hint)
    before = [r for r in runs if r.stopped is not None and r.stopped <= changed]
    stopped = f", {changed - before[-1].stopped:.0f} s after the guest stopped" if before and before[-1].stopped else ""
    return check("edited-offline", title, True, expected=expected, actual=f"changed at {_hms(changed)}{stopped}")
