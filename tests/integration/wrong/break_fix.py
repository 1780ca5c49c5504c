"""Known-wrong fixes of the break-fix lab, at least two per fault: workarounds that hide the cause.

The contract test's trainee draws one fault; each wrong fix here first
re-breaks the lab with the fault it is about (:func:`force_fault`), so every
fault is covered whichever one the trainee drew.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

import libvirt

from kvmlab import sandbox
from kvmlab.labs.break_fix import FAULT_ENV, BreakFixParams, redefine
from kvmlab.procs import run
from kvmlab.resources.agent import poll
from kvmlab.toolkit import Toolkit
from tests.integration.wrong import Wrong

LAB = "break-fix"

Step = Callable[[Toolkit, BreakFixParams], None]


def force_fault(s: Toolkit, fault: str) -> None:
    """Rebuild the lab with ``fault`` (under the trainee's lock, which the caller holds).

    What this lab made so far is removed the way finish removes it, then
    start runs again with the instructor's override (KVMLAB_BREAKFIX_FAULT);
    start records the fault, so the grader grades that one from then on.
    """
    for obj in s.owners.record.removal_order(s.lab.id):
        sandbox.remove(s.connection, obj, s.trainee.name)
        s.owners.drop(obj)
    before = os.environ.get(FAULT_ENV)
    os.environ[FAULT_ENV] = fault
    try:
        s.__dict__.pop("params", None)  # cached per session
        s.lab.start(s)
    finally:
        if before is None:
            os.environ.pop(FAULT_ENV, None)
        else:
            os.environ[FAULT_ENV] = before
        s.__dict__.pop("params", None)
    assert s.params.fault == fault  # type: ignore[attr-defined]


def _wrong(fault: str, *steps: Step) -> Callable[[Toolkit], None]:
    def apply(s: Toolkit) -> None:
        force_fault(s, fault)
        p = s.params
        assert isinstance(p, BreakFixParams)
        for step in steps:
            step(s, p)

    return apply


def _sh(*argv: str) -> Step:
    """A command as typed (a refused one changes nothing, as for the trainee); {p.field} is filled in."""

    def apply(s: Toolkit, p: BreakFixParams) -> None:
        run([a.format(p=p) for a in argv], check=False)

    return apply


def _virsh(*argv: str) -> Step:
    return _sh("virsh", "-q", "-c", "{p.uri}", *argv)


def _start(s: Toolkit, p: BreakFixParams) -> None:
    """virsh start; wait for the guest when it did start."""
    if run(["virsh", "-q", "-c", s.uri, "start", p.domain], check=False).returncode == 0:
        s.wait_ready(p.domain)


def _redefine(edit: Callable[[str, BreakFixParams], str]) -> Step:
    def apply(s: Toolkit, p: BreakFixParams) -> None:
        redefine(s, p, lambda xml: edit(xml, p))

    return apply


def _paused_again(s: Toolkit, p: BreakFixParams) -> None:
    """`virsh resume` retries the failed write at once: wait for QEMU to pause the guest again."""
    dom = s.host.domain(p.domain).handle
    assert dom is not None
    paused = (libvirt.VIR_DOMAIN_PAUSED, libvirt.VIR_DOMAIN_PAUSED_IOERROR)
    assert poll(lambda: tuple(dom.state()), lambda st: st == paused, seconds=30) == paused


def _destroy(s: Toolkit, p: BreakFixParams) -> None:
    run(["virsh", "-q", "-c", s.uri, "destroy", p.domain], check=False)
    time.sleep(0.5)


def _without_vdb(xml: str, p: BreakFixParams) -> str:
    start = xml.index("<disk", xml.index("</disk>"))  # the second disk
    end = xml.index("</disk>", start) + len("</disk>")
    return xml[:start] + xml[end:]


WRONG = [
    # -- backing file moved away -------------------------------------------------------
    # Rebased onto the archive copy: the guest runs, until someone cleans the archive.
    Wrong(
        "backing-rebased-onto-the-archive",
        _wrong("backing", _sh("qemu-img", "rebase", "-u", "-F", "qcow2", "-b", "{p.archive}", "{p.image}"), _start),
        frozenset({"backing-file", "base-in-place"}),
    ),
    Wrong(
        "backing-symlinked-from-the-archive",
        _wrong("backing", _sh("ln", "-s", "{p.archive}", "{p.base}"), _start),
        frozenset({"base-in-place"}),
    ),
    # A new, empty base of the right size: qemu opens the chain, the guest boots, its data is gone.
    Wrong(
        "backing-replaced-by-an-empty-base",
        _wrong("backing", _sh("qemu-img", "create", "-q", "-f", "qcow2", "{p.base}", "64M"), _start),
        frozenset({"data-intact"}),
    ),
    # -- image mode 000 ------------------------------------------------------------------
    # dynamic_ownership chowns at start anyway; the mode is still 000.
    Wrong(
        "permissions-chown-only",
        _wrong("permissions", _sh("chown", "libvirt-qemu:libvirt-qemu", "{p.image}"), _start),
        frozenset({"image-permissions", "guest-running"}),
    ),
    Wrong(
        "permissions-world-writable",
        _wrong("permissions", _sh("chmod", "0666", "{p.image}"), _start),
        frozenset({"image-permissions"}),
    ),
    Wrong(
        "permissions-fresh-overlay",
        _wrong(
            "permissions",
            _sh("rm", "-f", "{p.image}"),
            _sh("qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", "{p.base}", "{p.image}"),
            _start,
        ),
        frozenset({"data-intact"}),
    ),
    # -- pool directory gone ----------------------------------------------------------
    Wrong(
        "pool-scratch-disk-detached",
        _wrong("pool", _virsh("detach-disk", "{p.domain}", "vdb", "--config"), _start),
        frozenset({"pool-dir", "pool-active", "scratch-volume"}),
    ),
    Wrong(
        "pool-started-without-its-volume",
        _wrong("pool", _sh("mkdir", "{p.pool_dir}"), _virsh("pool-start", "{p.pool}"), _start),
        frozenset({"scratch-volume", "guest-running"}),
    ),
    # -- emulator removed ----------------------------------------------------------------
    Wrong(
        "emulator-wrapper-script-recreated",
        _wrong(
            "emulator",
            _sh("sh", "-c", 'mkdir -p "$(dirname {p.emulator})"'),
            _sh("sh", "-c", "printf '#!/bin/sh\\nexec qemu-system-x86_64 \"$@\"\\n' > {p.emulator}"),
            _sh("chmod", "0755", "{p.emulator}"),
            _start,
        ),
        frozenset({"emulator"}),
    ),
    # Edited the dumped XML, never ran `virsh define`.
    Wrong(
        "emulator-fixed-in-a-file-only",
        _wrong(
            "emulator",
            _sh("sh", "-c", "virsh -c {p.uri} dumpxml --inactive {p.domain} > {p.xml}"),
            _sh("sed", "-i", "s#<emulator>.*</emulator>#<emulator>/usr/bin/qemu-system-x86_64</emulator>#", "{p.xml}"),
            _start,
        ),
        frozenset({"emulator", "guest-running"}),
    ),
    # -- bridge renamed -------------------------------------------------------------------
    Wrong(
        "bridge-nic-detached",
        _wrong("bridge", _virsh("detach-interface", "{p.domain}", "bridge", "--mac", "{p.mac}", "--config"), _start),
        frozenset({"nic-bridge", "nic-live"}),
    ),
    Wrong(
        "bridge-nic-switched-to-user-networking",
        _wrong(
            "bridge",
            _redefine(
                lambda xml, p: xml.replace("<interface type='bridge'>", "<interface type='user'>").replace(
                    f"<source bridge='{p.missing_bridge}'/>", ""
                )
            ),
            _start,
        ),
        frozenset({"nic-bridge", "nic-live"}),
    ),
    # The XML made true instead of right: an empty bridge under the old name, connected to nothing.
    Wrong(
        "bridge-made-up-under-the-old-name",
        _wrong(
            "bridge",
            _sh("ip", "link", "add", "name", "{p.missing_bridge}", "type", "bridge"),
            _sh("ip", "link", "set", "dev", "{p.missing_bridge}", "up"),
            _start,
        ),
        frozenset({"nic-bridge", "nic-live"}),
    ),
    # A new NIC on the right bridge, with a new MAC: the guest's network config no longer matches.
    Wrong(
        "bridge-new-nic-new-mac",
        _wrong(
            "bridge",
            _virsh("detach-interface", "{p.domain}", "bridge", "--mac", "{p.mac}", "--config"),
            _virsh("attach-interface", "{p.domain}", "bridge", "{p.bridge}", "--model", "virtio", "--config"),
            _start,
        ),
        frozenset({"nic-bridge", "nic-live"}),
    ),
    # -- datastore full -------------------------------------------------------------------
    Wrong(
        "io-error-resumed-without-room",
        _wrong("io-error", _virsh("resume", "{p.domain}"), _paused_again),
        frozenset({"guest-running", "disk-space"}),
    ),
    # Errors handed to the guest instead: it runs, its writes fail (or vanish with 'ignore').
    Wrong(
        "io-error-policy-switched-to-report",
        _wrong(
            "io-error",
            _destroy,
            _redefine(lambda xml, p: xml.replace("error_policy='stop'", "error_policy='report'")),
            _start,
        ),
        frozenset({"error-policy", "disk-space"}),
    ),
    # 'ignore' is worse: QEMU tells the guest its write succeeded, and the data is lost.
    Wrong(
        "io-error-policy-switched-to-ignore",
        _wrong(
            "io-error",
            _destroy,
            _redefine(lambda xml, p: xml.replace("error_policy='stop'", "error_policy='ignore'")),
            _start,
        ),
        frozenset({"error-policy", "disk-space"}),
    ),
    Wrong(
        "io-error-data-disk-detached",
        _wrong("io-error", _destroy, _redefine(_without_vdb), _start),
        frozenset({"data-disk", "error-policy", "disk-space"}),
    ),
]
