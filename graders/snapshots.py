"""Checks of the snapshots lab (beyond the seed; nearest: question 19).

The chain before the merge is what the trainee recorded with ``qemu-img info
--backing-chain`` while the overlay was in use; the chain after it is read
from the host now (``qemu-img info`` and the live XML's backingStore). The
backup and each internal snapshot are read out of their images without
booting them (qemu-img convert + e2fsck + debugfs); the data written after
the snapshot is read in the running guest through its agent.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from kvmlab.grading import Check, check
from kvmlab.host import Host, ImageInfo
from kvmlab.labs.snapshots import SnapshotParams
from kvmlab.resources.agent import AgentUnavailable
from kvmlab.resources.imagefs import ImageUnreadable
from kvmlab.resources.trainee_files import read_json, same_file
from kvmlab.xmlviews import DiskXML, DomainSnapshotXML


def _last(text: str) -> str:
    """The last line a tool printed (its verdict), or '?'."""
    lines = text.strip().splitlines()
    return lines[-1] if lines else "?"


def _describe_chain(chain: list[ImageInfo]) -> str:
    return " -> ".join(f"{Path(e.filename).name} ({e.format})" for e in chain) or "empty"


def _recorded_chain(path: str) -> tuple[list[ImageInfo], str]:
    data, why = read_json(path)
    if why:
        return [], why
    chain = [ImageInfo.from_json(e) if isinstance(e, dict) else None for e in data] if isinstance(data, list) else []
    if not isinstance(data, list) or None in chain:
        return [], "not a list of images (use --backing-chain --output=json)"
    return [e for e in chain if e is not None], ""


def _chain_as_asked(p: SnapshotParams, chain: list[ImageInfo]) -> bool:
    layers = [(p.overlay, "qcow2"), (p.disk, "qcow2"), (p.base, "raw")]
    if len(chain) != len(layers):
        return False
    for i, (entry, (path, fmt)) in enumerate(zip(chain, layers, strict=True)):
        below = layers[i + 1][0] if i + 1 < len(layers) else None
        if not same_file(entry.filename, path) or entry.format != fmt:
            return False
        if (below is None) != (entry.backing_file is None) or (
            below is not None and not same_file(entry.backing_file, below)
        ):
            return False
    return True


def _disk_desc(disk: DiskXML | None) -> str:
    if disk is None:
        return "no vda"
    chain = " -> ".join(Path(f).name for f in disk.backing_files())
    return f"{Path(disk.source or 'none').name} ({disk.format})" + (f" -> {chain}" if chain else "")


def checks(host: Host, p: SnapshotParams) -> Iterator[Check]:
    vm = host.domain(p.domain)
    live, config = vm.live, vm.config
    live_vda = live.disk("vda") if live else None
    config_vda = config.disk("vda") if config else None
    snaps = vm.snapshots()

    # -- 1. the live backup ------------------------------------------------
    chain, why = _recorded_chain(p.chain_before)
    yield check(
        "chain-recorded",
        "while the external snapshot was in use, vda's chain was overlay -> vda image -> template",
        _chain_as_asked(p, chain),
        expected=f"{Path(p.overlay).name} (qcow2) -> {Path(p.disk).name} (qcow2) -> {Path(p.base).name} (raw)",
        actual=why or _describe_chain(chain),
        hint=f"after virsh snapshot-create-as ... --disk-only --diskspec vda,snapshot=external,file={p.overlay}: "
        f"qemu-img info -U --backing-chain --output=json {p.overlay} > {p.chain_before}",
    )

    backup = host.image(p.backup)
    info = backup.info()
    clean, said = backup.check() if info else (False, "")
    disk_size = host.image(p.disk).virtual_size
    yield check(
        "backup-standalone",
        "the backup is a standalone qcow2 (no backing file) of vda's full size, and qemu-img check finds it clean",
        info is not None
        and info.format == "qcow2"
        and info.backing_file is None
        and info.virtual_size == disk_size
        and clean,
        expected=f"{p.backup}: qcow2, no backing file, {disk_size} bytes, clean",
        actual="missing"
        if info is None
        else f"{info.format}, backing {info.backing_file or 'none'}, {info.virtual_size} bytes, "
        + ("clean" if clean else f"check: {_last(said)}"),
        hint=f"qemu-img convert -O qcow2 {p.disk} {p.backup} while the overlay takes the writes: convert "
        "flattens the chain (template + vda) into one image; cp would copy the qcow2 alone, still needing the template",
    )

    yield _point_in_time(host, p)

    # -- the merge -----------------------------------------------------------
    job = vm.block_job("vda") if live_vda is not None else {}
    yield check(
        "merged",
        "vda is the lab's qcow2 again, live and persistent, with no block job left running",
        live_vda is not None
        and config_vda is not None
        and same_file(live_vda.source, p.disk)
        and same_file(config_vda.source, p.disk)
        and live_vda.format == "qcow2"
        and not job,
        expected=f"vda -> {Path(p.disk).name} (qcow2) in the live and the persistent XML; no block job",
        actual=f"live: {_disk_desc(live_vda) if live else f'not running ({vm.state})'}; "
        f"persistent: {_disk_desc(config_vda)}" + (f"; a block job is still running: {job}" if job else ""),
        hint=f"virsh blockcommit {p.domain} vda --active --pivot --shallow: --pivot switches the guest back to "
        f"{Path(p.disk).name}; without --shallow (or --base {p.disk}) it commits into the bottom of the chain, "
        "the template",
    )

    in_use = [
        f"{where} XML"
        for where, disk in (("live", live_vda), ("persistent", config_vda))
        if disk is not None and any(same_file(f, p.overlay) for f in [disk.source or "", *disk.backing_files()])
    ]
    external = sorted(name for name, snap in snaps.items() if any(d.snapshot == "external" for d in snap.disks()))
    left = [
        *(["the file is still there"] if Path(p.overlay).exists() else []),
        *(f"in use by the {where}" for where in in_use),
        *(f"external snapshot metadata: {name}" for name in external),
    ]
    yield check(
        "overlay-removed",
        "the overlay is merged and gone: not in use, deleted, no external snapshot metadata pointing at it",
        not left,
        expected=f"no {Path(p.overlay).name}, no external snapshot",
        actual="; ".join(left) or "gone",
        hint=f"after the pivot: virsh snapshot-delete {p.domain} {p.backup_snapshot} --metadata (libvirt can no "
        f"longer revert to it) and rm {p.overlay} (or blockcommit --delete)",
    )

    found: str | None = None
    problem = ""
    guest = vm.guest
    if guest is None:
        problem = f"guest not running ({vm.state})"
    else:
        try:
            result = guest.run(["/bin/cat", p.marker_in_guest])
            found = result.stdout.strip() if result.exitcode == 0 else None
            problem = "" if result.exitcode == 0 else result.stderr.strip() or "no such file"
        except AgentUnavailable as err:
            problem = err.message
    yield check(
        "marker-survives",
        "the file written in the guest after the backup snapshot is still there, after the merge",
        found == p.marker_text,
        expected=f"{p.marker_in_guest}: {p.marker_text}",
        actual=problem or repr(found),
        hint="write it after snapshot-create-as and before the blockcommit: it lands in the overlay, and only "
        "a commit (or a pull) brings it into the image that stays",
    )

    # -- 2. no more template -------------------------------------------------
    top = host.image(p.disk).info()
    pulled_backing = top.backing_file if top else None
    live_chain = live_vda.backing_files() if live_vda else []
    yield check(
        "flattened",
        "vda no longer needs the template: no backing file in the image nor in the live XML",
        top is not None and pulled_backing is None and live_vda is not None and not live_chain,
        expected=f"{Path(p.disk).name}: no backing file; live backingStore empty",
        actual=("missing" if top is None else f"backing file {pulled_backing or 'none'}")
        + ("; live: not running" if live_vda is None else f"; live chain: {', '.join(live_chain) or 'empty'}"),
        hint=f"virsh blockpull {p.domain} vda --wait copies the template's data into vda, live; then "
        f"{Path(p.base).name} is free (qemu-img rebase -b '' does it offline)",
    )

    # -- 3. internal snapshots -----------------------------------------------
    yield _internal(p, snaps, top)
    yield _tree(p, snaps, vm.current_snapshot)
    yield _contents(host, p, top)


def _point_in_time(host: Host, p: SnapshotParams) -> Check:
    marker: str | None = None
    hostname: str | None = None
    consistent, said, problem = False, "", ""
    try:
        with host.image(p.backup).files() as fs:
            consistent, said = fs.fsck()
            marker = fs.read(p.marker_in_image)
            hostname = fs.read("/etc/hostname")
    except ImageUnreadable as err:
        problem = err.message
    return check(
        "backup-point-in-time",
        "the backup holds vda as it was at the snapshot: a clean filesystem, without the file written after it",
        not problem and consistent and hostname is not None and marker is None,
        expected=f"e2fsck clean, /etc/hostname present, no {p.marker_in_image}",
        actual=problem
        or f"e2fsck {'clean' if consistent else 'found errors: ' + _last(said)}, "
        f"/etc/hostname {'present' if hostname is not None else 'missing'}, "
        + (f"{p.marker_in_image} present ({marker.strip()!r})" if marker is not None else f"no {p.marker_in_image}"),
        hint="copy the image while the overlay takes the writes (after snapshot-create-as, before blockcommit); "
        "--quiesce has the guest agent freeze the filesystem, so the copy needs no journal replay",
    )


def _internal(p: SnapshotParams, snaps: dict[str, DomainSnapshotXML], top: ImageInfo | None) -> Check:
    in_image = dict(top.snapshots) if top else {}
    rows, ok = [], True
    for name in p.snapshots:
        snap = snaps.get(name)
        vda = snap.disk("vda") if snap else None
        right = (
            snap is not None
            and snap.state == "running"
            and snap.memory == "internal"
            and vda is not None
            and vda.snapshot == "internal"
            and in_image.get(name, 0) > 0
        )
        ok = ok and right
        if snap is None:
            rows.append(f"{name}: none")
        else:
            where = f"in the image, {in_image[name] // 2**20} MiB of RAM" if name in in_image else "not in the image"
            vda_mode = vda.snapshot if vda else "not included"
            rows.append(f"{name}: {snap.state}, memory {snap.memory}, vda {vda_mode}, {where}")
    return check(
        "snapshots-internal",
        f"internal snapshots {', '.join(p.snapshots)} of the running guest: RAM and disk, inside {Path(p.disk).name}",
        ok,
        expected="each: state running, memory internal, vda internal; listed by qemu-img snapshot -l",
        actual="; ".join(rows),
        hint=f"virsh snapshot-create-as {p.domain} NAME (no --disk-only: that makes an external snapshot); "
        f"qemu-img snapshot -l -U {p.disk} lists what the image holds",
    )


def _tree(p: SnapshotParams, snaps: dict[str, DomainSnapshotXML], current: str | None) -> Check:
    clean, v1, v2 = p.snapshots
    asked = {v1: clean, v2: clean}
    seen = {name: (snaps[name].parent if name in snaps else "missing") for name in asked}
    return check(
        "snapshot-tree",
        f"{v1} and {v2} are both children of {clean} (a revert in between), and the guest runs on from {v2}",
        clean in snaps and seen == asked and current == v2,
        expected=f"{clean} -> {v1}, {clean} -> {v2}; current {v2}",
        actual=("" if clean in snaps else f"no {clean}; ")
        + ", ".join(f"{n} <- {parent or 'root'}" for n, parent in seen.items())
        + f"; current {current}",
        hint=f"virsh snapshot-revert {p.domain} {clean} before writing {v2}: a snapshot's parent is the current "
        f"snapshot when it is taken (virsh snapshot-list {p.domain} --tree)",
    )


def _contents(host: Host, p: SnapshotParams, top: ImageInfo | None) -> Check:
    clean, v1, v2 = p.snapshots
    asked = {clean: None, v1: v1, v2: v2}
    in_image = set(top.snapshots) if top else set()
    rows, ok = [], True
    for name, want in asked.items():
        if name not in in_image:
            ok = False
            rows.append(f"{name}: not in {Path(p.disk).name}")
            continue
        try:
            with host.image(p.disk).files(snapshot=name) as fs:
                consistent, said = fs.fsck()
                text = fs.read(p.version_in_image)
        except ImageUnreadable as err:
            ok = False
            rows.append(f"{name}: unreadable ({err.message})")
            continue
        got = text.strip() if text is not None else None
        ok = ok and consistent and got == want
        fs_state = "clean" if consistent else f"CORRUPT ({_last(said)})"
        rows.append(f"{name}: filesystem {fs_state}, {p.version_in_image} {got!r}")
    return check(
        "snapshot-contents",
        "each internal snapshot holds a clean filesystem with what was written before it",
        ok,
        expected=f"{clean}: no {p.version_in_image}; {v1}: {v1!r}; {v2}: {v2!r}; every filesystem clean",
        actual="; ".join(rows),
        hint="write (and sync) the version file in the guest before each snapshot; and never blockpull or "
        "rebase an image after taking internal snapshots: they keep reading what they never copied through "
        "the old backing file",
    )
