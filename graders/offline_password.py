"""Checks of the offline-password lab (seed question 13).

What can be proven from the host, and how:
- the guest is shut off now (libvirt);
- how it last stopped (libvirt's log: ``reason=shutdown``, ``destroyed``, ``saved``);
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

from kvmlab.grading import Check, Checks, ImageUnreadable, check, step
from kvmlab.host import Host
from kvmlab.labs.offline_password import PasswordParams

# Guest and appliance clocks come from the host's RTC, within a second or so.
CLOCK_SLACK = 2.0


def _hms(t: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(t))


def _span(started: float, stopped: float | None) -> str:
    return f"{_hms(started)}-{_hms(stopped) if stopped is not None else 'now'}"


def _verdict_line(said: str) -> str:
    """qemu-img check's verdict ("No errors were found", "2 errors were found", "leaked clusters")."""
    lines = said.splitlines()
    return next(
        (line for line in lines if "error" in line.lower() or "leak" in line.lower()), lines[-1] if lines else ""
    )


@step(
    1,
    "Shut the guest down cleanly",
    hints=(
        "A disk may be edited offline only when nothing else writes it: the guest's own kernel caches its "
        "filesystem. A clean shutdown lets the guest flush everything and power itself off; a power cut leaves an "
        "unreplayed journal, and a saved guest comes back later with its old view of the disk.",
        "virsh shutdown DOMAIN, then wait until virsh domstate DOMAIN says shut off (--reason says how)",
    ),
)
def shut_down(host: Host, p: PasswordParams) -> Checks:
    vm = host.domain(p.domain)
    yield check(
        "guest-shut-off",
        f"the guest {p.domain} is shut off",
        vm.state == "shut off",
        expected="shut off",
        actual=vm.state,
        hint="libguestfs must never write a disk that a running guest is using: the guest has to be off (and "
        "asking it to shut down returns at once: it is off only when libvirt says so)",
    )
    runs = vm.runs()
    last = runs[-1] if runs else None
    yield check(
        "shutdown-clean",
        "it was shut down from inside (an ACPI shutdown), not pulled from the power nor saved",
        last is not None and last.reason == "shutdown",
        expected="last stop: reason=shutdown",
        actual="no record in libvirt's log"
        if last is None
        else ("still running" if last.stopped is None else f"last stop: reason={last.reason}"),
        hint="a power cut (destroy) leaves the guest's filesystem with an unreplayed journal; a saved guest "
        "(managedsave) resumes later with its memory's view of the disk, and an edit made meanwhile corrupts it. "
        "A shutdown presses the ACPI power button: the guest syncs and powers itself off",
    )


@step(
    2,
    "Set the new root password in the image, offline",
    hints=(
        "With the guest off, libguestfs opens its disk image in a small appliance VM and edits /etc/shadow there: "
        "virt-customize sets a password in one command (virt-edit and guestfish edit the file by hand). It writes "
        "only to the guest's own overlay.",
        "virt-customize -a DISK (or -d DOMAIN) --root-password password:NEW_PASSWORD",
    ),
)
def password(host: Host, p: PasswordParams) -> Checks:
    shadow_text: str | None = None
    changed: float | None = None
    accepted = old_accepted = False
    scheme = ""
    unreadable = ""
    try:
        shadow = host.shadow(p.disk).read()
        shadow_text, changed = shadow.text, shadow.changed
        entry = shadow.entry(p.user)
        scheme = entry.scheme if entry else ""
        accepted = shadow.accepts(p.user, p.password)
        old_accepted = shadow.accepts(p.user, p.old_password)
    except ImageUnreadable as err:
        unreadable = err.message

    if unreadable:
        actual = unreadable
    elif shadow_text is None:
        actual = "the image has no /etc/shadow"
    elif not scheme:
        actual = f"/etc/shadow has no {p.user} entry"
    elif accepted:
        actual = f"{p.user}'s hash ({scheme}) matches {p.password}"
    elif old_accepted:
        actual = f"still the old password ({p.old_password})"
    else:
        actual = f"{p.user}'s hash ({scheme}) matches neither {p.password} nor the old password"
    yield check(
        "password-set",
        f"/etc/shadow in the image accepts {p.user}'s new password {p.password}",
        accepted,
        expected=f"{p.user}:{p.password}",
        actual=actual,
        hint="the password lives as a hash in /etc/shadow inside the disk image: a libguestfs tool can set it "
        "(it hashes it as the guest's OS does), or you replace the hash field with one made by openssl passwd -6",
    )

    yield _edited_offline(host, p, changed, unreadable)

    clean, said = host.image(p.disk).check()
    yield check(
        "image-clean",
        "qemu-img check finds no errors in the image",
        clean,
        expected="No errors were found on the image.",
        actual=_verdict_line(said),
        hint="qemu-img check lists the damage; two writers on one qcow2 (a running guest and an offline tool), or a "
        "writer killed mid-way, corrupt its metadata: restore from backup",
    )


def _edited_offline(host: Host, p: PasswordParams, changed: float | None, unreadable: str) -> Check:
    title = "/etc/shadow was rewritten while the guest was shut off"
    expected = "changed after the lab started, outside every run of the guest"
    hint = (
        "shut the guest down first, then edit its disk: changing it from inside the running guest, or "
        "behind the back of a running QEMU, is not the offline change this lab asks for"
    )
    if unreadable or changed is None:
        return check(
            "edited-offline", title, False, expected=expected, actual=unreadable or "no /etc/shadow", hint=hint
        )
    runs = host.domain(p.domain).runs()
    if not runs:
        return check(
            "edited-offline",
            title,
            False,
            expected=expected,
            actual="libvirt's log of this guest has no record of its runs",
            hint="the grader reads libvirt's log of the guest (/var/log/libvirt/qemu/DOMAIN.log): was it removed?",
        )
    now = time.time()
    if changed < runs[0].started - CLOCK_SLACK:
        actual = (
            f"unchanged since the lab started (last change {time.strftime('%Y-%m-%d %H:%M', time.localtime(changed))})"
        )
        unchanged = "nothing has rewritten /etc/shadow yet: with the guest shut off, edit it in the disk image"
        return check("edited-offline", title, False, expected=expected, actual=actual, hint=unchanged)
    during = next((r for r in runs if r.covers(changed, now, CLOCK_SLACK)), None)
    if during is not None:
        actual = f"changed at {_hms(changed)}, while the guest was running ({_span(during.started, during.stopped)})"
        return check("edited-offline", title, False, expected=expected, actual=actual, hint=hint)
    before = [r.stopped for r in runs if r.stopped is not None and r.stopped <= changed]
    stopped = f", {changed - before[-1]:.0f} s after the guest stopped" if before else ""
    return check("edited-offline", title, True, expected=expected, actual=f"changed at {_hms(changed)}{stopped}")
