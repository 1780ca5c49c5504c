"""Command lines that differ in text but not in what they do.

Applied to both parses before they are compared (check.check_command), so the
learner's line and every accepted line are judged in the same normal form.
Each rule is here because libvirt, virsh or QEMU does exactly the same thing
with and without the option; each says why. Options that *look* like defaults
but are not stay out: ``--subdriver qcow2`` for a qcow2 image is the right
answer, and leaving it out makes libvirt open the image as raw, so it is not
the same command.

Checked against libvirt 9.0 and QEMU 7.2 (the versions kvmlab's hosts run).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from kvmlab.quiz.commands import Parsed


def _always(_: Parsed) -> bool:
    return True


def _target_starts(prefix: str) -> Callable[[Parsed], bool]:
    return lambda p: any(t.startswith(prefix) for t in p.value("target"))


def _has(*flags: str) -> Callable[[Parsed], bool]:
    return lambda p: bool(p.flags & set(flags))


def _value_is(name: str, value: str) -> Callable[[Parsed], bool]:
    return lambda p: p.value(name) == (value,)


@dataclass(frozen=True)
class Redundant:
    """``param`` (given ``value``; a flag when value is None) changes nothing when ``when`` holds."""

    tool: str
    sub: str | None  # None: every subcommand of the tool
    param: str
    value: str | None
    why: str
    when: Callable[[Parsed], bool] = _always

    def applies(self, p: Parsed) -> bool:
        if p.tool != self.tool or (self.sub is not None and p.sub != self.sub) or not self.when(p):
            return False
        return self.param in p.flags if self.value is None else p.value(self.param) == (self.value,)


REDUNDANT: tuple[Redundant, ...] = (
    Redundant(
        "virsh",
        None,
        "-c",
        "qemu:///system",
        "kvmlab's answers are typed as root, and root's default connection is qemu:///system",
    ),
    Redundant(
        "virsh",
        "attach-disk",
        "driver",
        "qemu",
        "the QEMU driver fills in <driver name='qemu'/>, the only driver name it accepts",
    ),
    Redundant(
        "virsh",
        "attach-disk",
        "subdriver",
        "raw",
        "without --subdriver libvirt writes type='raw' (it never probes an image's format)",
    ),
    Redundant("virsh", "attach-disk", "type", "disk", "a disk is the device attach-disk makes unless told otherwise"),
    Redundant(
        "virsh",
        "attach-disk",
        "targetbus",
        "virtio",
        "libvirt derives the bus from the target's prefix: vd* is virtio",
        _target_starts("vd"),
    ),
    Redundant(
        "virsh",
        "attach-disk",
        "targetbus",
        "ide",
        "libvirt derives the bus from the target's prefix: hd* is ide",
        _target_starts("hd"),
    ),
    Redundant(
        "virsh",
        "attach-disk",
        "targetbus",
        "scsi",
        "libvirt derives the bus from the target's prefix: sd* is scsi",
        _target_starts("sd"),
    ),
    Redundant(
        "virsh",
        "attach-disk",
        "mode",
        "readonly",
        "libvirt makes every CD-ROM read-only (<readonly/> is written either way)",
        _value_is("type", "cdrom"),
    ),
    Redundant("virsh", "domifaddr", "source", "lease", "'lease' is domifaddr's default source (virsh(1))"),
    Redundant(
        "virsh",
        "blockcommit",
        "active",
        None,
        "--pivot and --keep-overlay are shorthand for --active --wait plus the final step (virsh(1))",
        _has("pivot", "keep-overlay"),
    ),
    Redundant(
        "virsh",
        "blockcommit",
        "wait",
        None,
        "--pivot and --keep-overlay are shorthand for --active --wait plus the final step (virsh(1))",
        _has("pivot", "keep-overlay"),
    ),
    Redundant(
        "virsh", "blockcopy", "wait", None, "--pivot and --finish imply --wait (virsh(1))", _has("pivot", "finish")
    ),
    # --verbose only prints progress while virsh waits for the job; the job is the same.
    Redundant("virsh", "blockcommit", "verbose", None, "--verbose only prints progress", _has("wait", "pivot")),
    Redundant("virsh", "blockcopy", "verbose", None, "--verbose only prints progress", _has("wait", "pivot", "finish")),
    Redundant("virsh", "blockpull", "verbose", None, "--verbose only prints progress", _has("wait")),
    Redundant("virsh", "migrate", "verbose", None, "--verbose only prints the migration's progress"),
    Redundant("qemu-img", None, "-q", None, "-q only silences qemu-img's progress and messages"),
    Redundant("qemu-img", "create", "-f", "raw", "raw is qemu-img's default format (qemu-img(1))"),
    Redundant("qemu-img", "convert", "-O", "raw", "raw is qemu-img's default output format (qemu-img(1))"),
    Redundant("qemu-img", "info", "--output", "human", "human is the default --output"),
    Redundant("qemu-img", "check", "--output", "human", "human is the default --output"),
    Redundant("qemu-img", "map", "--output", "human", "human is the default --output"),
)

# qemu-img create's -o backing_file=/-o backing_fmt= are the long spellings of -b and -F.
_QEMU_IMG_CREATE_ALIASES = {"backing_file": "-b", "backing_fmt": "-F"}
# --diskspec DISK,snapshot=external on a --disk-only snapshot: what libvirt does with a disk the
# specs do not name (external, in a file next to the image); with a file= it says more.
_SNAPSHOT_DEFAULT_SPEC = "snapshot=external"

# virsh commands whose --live/--config/--current choose which definition to change, and what they
# do with none of them. "current": libvirt's current state (the running guest if it runs, the
# persistent definition if it is shut off). "live": virsh calls the old API that changes only a
# running guest, and fails on a shut-off one ("domain is not running"). Each tried on a shut-off
# guest with libvirt 9.0's QEMU driver.
NO_FLAG = {
    "attach-disk": "live",
    "attach-interface": "live",
    "attach-device": "live",
    "detach-disk": "live",
    "detach-interface": "live",
    "detach-device": "live",
    "setmem": "live",
    "setvcpus": "live",
    "vcpupin": "live",
    "emulatorpin": "live",
    "setmaxmem": "current",
    "iothreadadd": "current",
    "desc": "current",
    "dommemstat": "current",
}
_SCOPE = frozenset({"live", "config", "current", "persistent"})


def _with(p: Parsed, values: dict[str, tuple[str, ...]], flags: set[str]) -> Parsed:
    return replace(p, values=tuple(sorted(values.items())), flags=frozenset(flags))


def _scope(p: Parsed, values: dict[str, tuple[str, ...]], flags: set[str], run: str | None) -> None:
    """--current, --persistent or no flag spelled as what they mean for the question's guest.

    run is the question's run mode: "guest" (running) or "guest-off" (shut off); any other
    mode says nothing about the guest's state, and the flags are compared as written."""
    if p.tool != "virsh" or p.sub not in NO_FLAG or run not in ("guest", "guest-off"):
        return
    if "period" not in values and p.sub == "dommemstat":
        return  # without --period dommemstat only reads
    given = flags & _SCOPE
    running = run == "guest"
    if given == {"current"} or (not given and (running or NO_FLAG[p.sub] == "current")):
        new = {"live"} if running else {"config"}
    elif given == {"persistent"}:
        # virsh(1): "--persistent behaves like --config for an offline domain, and like --live
        # --config for a running domain".
        new = {"live", "config"} if running else {"config"}
    else:
        return
    flags -= _SCOPE
    flags |= new


def normalize(p: Parsed, run: str | None = None) -> Parsed:
    """The parse with every redundant option dropped and aliases spelled one way."""
    values = dict(p.values)
    flags = set(p.flags)
    if p.tool == "qemu-img" and p.sub == "create" and "-o" in values:
        kept = []
        for item in values.pop("-o"):
            key, eq, val = item.partition("=")
            if eq and key in _QEMU_IMG_CREATE_ALIASES and _QEMU_IMG_CREATE_ALIASES[key] not in values:
                values[_QEMU_IMG_CREATE_ALIASES[key]] = (val,)
            else:
                kept.append(item)
        if kept:
            values["-o"] = tuple(kept)
    if p.tool == "virsh" and p.sub == "snapshot-create-as" and "disk-only" in flags and "diskspec" in values:
        specs = [
            s
            for s in " ".join(values.pop("diskspec")).split()
            if s.partition(",")[2] not in ("", _SNAPSHOT_DEFAULT_SPEC)
        ]
        if specs:
            values["diskspec"] = (" ".join(specs),)
    _scope(p, values, flags, run)
    # Several rules may hold at once (--pivot makes --wait redundant, which --verbose leans on):
    # the conditions are read on the parse as given, before anything is dropped.
    for rule in REDUNDANT:
        if rule.applies(p):
            if rule.value is None:
                flags.discard(rule.param)
            else:
                values.pop(rule.param, None)
    return _with(p, values, flags)
