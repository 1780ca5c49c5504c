"""Checks of the snapshots lab (beyond the seed; nearest: question 19).

The chain before the merge is what the trainee recorded with ``qemu-img info
--backing-chain`` while the overlay was in use; the chain after it is read
from the host now (``qemu-img info`` and the live XML's backingStore). The
backup and each internal snapshot are read out of their images without
booting them (qemu-img convert + e2fsck + debugfs); whether the backup was
frozen (--quiesce) from its ext4 superblock before any journal replay; the
data written after the snapshot is read in the running guest through its
agent.
"""

from __future__ import annotations

import json
from pathlib import Path

from kvmlab.grading import AgentUnavailable, Check, Checks, ImageUnreadable, check, step
from kvmlab.host import DiskXML, DomainSnapshotXML, Host, ImageInfo
from kvmlab.labs.snapshots import SnapshotParams


def _last(text: str) -> str:
    """The last line a tool printed (its verdict), or '?'."""
    lines = text.strip().splitlines()
    return lines[-1] if lines else "?"


def _name(path: str | None) -> str:
    return Path(path or "none").name


# -- 1. the external snapshot ---------------------------------------------------


@step(
    1,
    "Take an external, disk-only, quiesced snapshot and record the chain",
    hints=(
        "An external disk-only snapshot puts a new, empty qcow2 overlay on top of the running guest's disk: the "
        "guest writes there from now on, and the image under it is frozen, a point-in-time copy you can read at "
        "leisure. Quiesced: the guest agent freezes the filesystems for that instant, so the frozen image is clean.",
        "virsh snapshot-create-as DOMAIN NAME --disk-only --atomic --quiesce --diskspec vda,snapshot=external,"
        "file=OVERLAY; then qemu-img info -U --backing-chain --output=json OVERLAY > CHAIN_FILE",
    ),
    zh="做一个外部、仅磁盘、静默的快照，并记录 backing 链",
    hints_zh=(
        "外部仅磁盘快照会在运行中虚拟机的磁盘上叠一个新的、空的 qcow2 覆盖层：从此虚拟机的写入都进覆盖层，"
        "下面的镜像被冻结下来，成为某一时刻的副本，可以慢慢读取。静默（quiesce）："
        "客户机代理在那一瞬间冻结文件系统，所以冻结下来的镜像是干净的。",
        "virsh snapshot-create-as DOMAIN NAME --disk-only --atomic --quiesce --diskspec "
        "vda,snapshot=external,file=OVERLAY；然后 qemu-img info -U --backing-chain --output=json OVERLAY > "
        "CHAIN_FILE",
    ),
)
def external_snapshot(host: Host, p: SnapshotParams) -> Checks:
    chain, why = _recorded_chain(host, p.chain_before)
    yield check(
        "chain-recorded",
        "while the external snapshot was in use, vda's chain was overlay -> vda image -> template",
        _chain_as_asked(host, p, chain),
        expected=f"{_name(p.overlay)} (qcow2) -> {_name(p.disk)} (qcow2) -> {_name(p.base)} (raw)",
        actual=why or " -> ".join(f"{_name(e.filename)} ({e.format})" for e in chain) or "empty",
        hint="the grader reads the chain you recorded as JSON (qemu-img info --backing-chain in JSON) while the "
        "overlay is in use: QEMU holds the images, so qemu-img must be told to share them",
        zh="外部快照使用期间，vda 的 backing 链是：覆盖层 -> vda 镜像 -> 模板",
        hint_zh="评分程序读取的是你在覆盖层使用期间以 JSON 格式记录的链（qemu-img info --backing-chain，输出 "
        "JSON）：镜像被 QEMU 占用着，所以要让 qemu-img 以共享方式打开它们",
    )


def _recorded_chain(host: Host, path: str) -> tuple[list[ImageInfo], str]:
    text = host.trainee_file(path).text()
    if text is None:
        return [], "no file"
    try:
        data = json.loads(text)
    except ValueError as err:
        return [], f"not JSON ({err})"
    chain = [ImageInfo.from_json(e) if isinstance(e, dict) else None for e in data] if isinstance(data, list) else []
    if not isinstance(data, list) or None in chain:
        return [], "not a list of images (use --backing-chain --output=json)"
    return [e for e in chain if e is not None], ""


def _chain_as_asked(host: Host, p: SnapshotParams, chain: list[ImageInfo]) -> bool:
    layers = [(p.overlay, "qcow2"), (p.disk, "qcow2"), (p.base, "raw")]
    if len(chain) != len(layers):
        return False
    for i, (entry, (path, fmt)) in enumerate(zip(chain, layers, strict=True)):
        below = layers[i + 1][0] if i + 1 < len(layers) else None
        if not host.file(path).is_named_by(entry.filename) or entry.format != fmt:
            return False
        if (below is None) != (entry.backing_file is None) or (
            below is not None and not host.file(below).is_named_by(entry.backing_file)
        ):
            return False
    return True


# -- 2. the backup ----------------------------------------------------------------


@step(
    2,
    "Write in the guest, and copy the frozen image: the backup",
    hints=(
        "While the overlay takes the guest's writes, the image under it does not change: a copy of it is the "
        "backup, as the disk was at the snapshot. A copy must stand alone: the image still needs the template "
        "under it, unless the copy flattens the chain.",
        "in the guest: write the file and sync; on the host: qemu-img convert -O qcow2 FROZEN_IMAGE BACKUP",
    ),
    zh="在虚拟机里写入数据，并复制被冻结的镜像：这就是备份",
    hints_zh=(
        "覆盖层接收虚拟机写入的这段时间里，它下面的镜像不会变：复制它，得到的就是快照那一刻的磁盘，也就是备份。"
        "备份必须能独立使用：这个镜像下面还依赖着模板，除非复制时把整条链拍平。",
        "在虚拟机里：写入文件并 sync；在宿主机上：qemu-img convert -O qcow2 FROZEN_IMAGE BACKUP",
    ),
)
def backup(host: Host, p: SnapshotParams) -> Checks:
    image = host.image(p.backup)
    info = image.info()
    clean, said = image.check() if info else (False, "")
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
        hint="vda is a thin clone: a copy of its qcow2 file alone still needs the template under it. A conversion "
        "reads through the whole chain and writes one image",
        zh="备份是一个独立的 qcow2（没有后端文件），大小与 vda 完全相同，并且 qemu-img check 检查无误",
        hint_zh="vda 是精简克隆：只复制它的 qcow2 文件，副本仍然依赖下面的模板。转换（convert）会顺着整条链读取，"
        "写出一个完整的镜像",
    )
    yield _point_in_time(host, p)
    needs_recovery = host.ext4(p.backup).needs_recovery if info else None
    yield check(
        "backup-quiesced",
        "the backup's filesystem was frozen at the snapshot (quiesced): no journal left to replay",
        needs_recovery is False,
        expected="ext4 superblock without needs_recovery",
        actual="missing"
        if info is None
        else {None: "no ext4 filesystem found", True: "needs_recovery: crash-consistent only"}.get(
            needs_recovery, "clean"
        ),
        hint="a mounted filesystem copied as it runs is only crash-consistent (a journal to replay, application "
        "data maybe half written); the guest agent can freeze it for the instant of the snapshot, and libvirt asks "
        "it to when told to quiesce",
        zh="备份的文件系统在快照时被冻结过（静默）：没有需要重放的日志",
        hint_zh="在运行中直接复制一个已挂载的文件系统，只能做到崩溃一致（有日志要重放，应用数据可能只写了一半）；"
        "客户机代理可以在快照那一瞬间冻结文件系统，只要你要求静默，libvirt 就会让它这么做",
    )


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
        hint="copy the image that the snapshot froze, while the overlay takes the writes: after the merge it holds "
        "everything written since, and it is no longer the disk as it was at the snapshot",
        zh="备份里是快照那一刻的 vda：文件系统干净，没有快照之后写入的文件",
        hint_zh="要在覆盖层接收写入期间，复制被快照冻结的那个镜像：合并之后，它包含了此后写入的所有数据，"
        "就不再是快照那一刻的磁盘了",
    )


# -- 3. the merge -----------------------------------------------------------------


@step(
    3,
    "Merge the overlay back into vda, and remove it",
    hints=(
        "A block commit copies the overlay's clusters down into the image under it while the guest runs, then "
        "pivots the guest back onto that image. Where it commits matters: by default, into the bottom of the "
        "chain (here the template). The overlay and the snapshot's metadata are left for you to remove.",
        "virsh blockcommit DOMAIN vda --active --pivot plus the option that commits into the image right under "
        "the top; then virsh snapshot-delete DOMAIN SNAPSHOT --metadata, and remove the overlay file",
    ),
    zh="把覆盖层合并回 vda，然后删除它",
    hints_zh=(
        "块提交（block commit）在虚拟机运行时把覆盖层的簇复制到它下面的镜像里，然后把虚拟机切换（pivot）"
        "回那个镜像。合并到哪里很关键：默认会合并到链的最底层（这里就是模板）。覆盖层和快照元数据要你自己删除。",
        "virsh blockcommit DOMAIN vda --active --pivot，再加上让它合并到顶层正下方那个镜像的选项；然后 virsh "
        "snapshot-delete DOMAIN SNAPSHOT --metadata，并删除覆盖层文件",
    ),
)
def merge(host: Host, p: SnapshotParams) -> Checks:
    vm = host.domain(p.domain)
    live, config = vm.live, vm.config
    live_vda = live.disk("vda") if live else None
    config_vda = config.disk("vda") if config else None
    job = vm.block_job("vda") if live_vda is not None else {}
    yield check(
        "merged",
        "vda is the lab's qcow2 again, live and persistent, with no block job left running",
        live_vda is not None
        and config_vda is not None
        and host.file(p.disk).is_named_by(live_vda.source)
        and host.file(p.disk).is_named_by(config_vda.source)
        and live_vda.format == "qcow2"
        and not job,
        expected=f"vda -> {_name(p.disk)} (qcow2) in the live and the persistent XML; no block job",
        actual=f"live: {_disk_desc(live_vda) if live else f'not running ({vm.state})'}; "
        f"persistent: {_disk_desc(config_vda)}" + (f"; a block job is still running: {job}" if job else ""),
        hint=f"an active commit ends with a pivot that switches the guest back to {_name(p.disk)}; one that commits "
        "to the default base writes the overlay into the template, at the bottom of the chain",
        zh="vda 重新指向实验的 qcow2，运行时配置和持久化配置都是，并且没有残留的块任务在运行",
        hint_zh=f"活动层合并（active commit）最后的 pivot 会把虚拟机切回 {_name(p.disk)}；如果合并到默认的 base，"
        "覆盖层的数据就会写进链最底层的模板",
    )

    in_use = [
        f"{where} XML"
        for where, disk in (("live", live_vda), ("persistent", config_vda))
        if disk is not None
        and any(host.file(p.overlay).is_named_by(f) for f in [disk.source or "", *disk.backing_files()])
    ]
    external = sorted(
        name for name, snap in vm.snapshots().items() if any(d.snapshot == "external" for d in snap.disks())
    )
    left = [
        *(["the file is still there"] if host.file(p.overlay).exists else []),
        *(f"in use by the {where}" for where in in_use),
        *(f"external snapshot metadata: {name}" for name in external),
    ]
    yield check(
        "overlay-removed",
        "the overlay is merged and gone: not in use, deleted, no external snapshot metadata pointing at it",
        not left,
        expected=f"no {_name(p.overlay)}, no external snapshot",
        actual="; ".join(left) or "gone",
        hint="after the pivot the overlay is out of the chain, but libvirt still lists the snapshot (which can no "
        "longer be reverted to) and the file is still on disk: remove both",
        zh="覆盖层已合并并清理干净：不再使用、文件已删除，也没有指向它的外部快照元数据",
        hint_zh="pivot 之后覆盖层已经不在链里了，但 libvirt 仍然列着这个快照（已经无法回滚到它），"
        "文件也还在磁盘上：两者都要删掉",
    )
    yield _marker_survives(host, p)


def _disk_desc(disk: DiskXML | None) -> str:
    if disk is None:
        return "no vda"
    chain = " -> ".join(_name(f) for f in disk.backing_files())
    return f"{_name(disk.source)} ({disk.format})" + (f" -> {chain}" if chain else "")


def _marker_survives(host: Host, p: SnapshotParams) -> Check:
    vm = host.domain(p.domain)
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
    return check(
        "marker-survives",
        "the file written in the guest after the backup snapshot is still there, after the merge",
        found == p.marker_text,
        expected=f"{p.marker_in_guest}: {p.marker_text}",
        actual=problem or repr(found),
        hint="write it after the snapshot and before the merge: it lands in the overlay, and only a commit (or a "
        "pull) brings it into the image that stays",
        zh="备份快照之后在虚拟机里写入的文件，合并之后仍然存在",
        hint_zh="要在快照之后、合并之前写入：它会落在覆盖层里，只有 commit（或 pull）才会把它带进最终保留的镜像",
    )


# -- 4. no more template ------------------------------------------------------------


@step(
    4,
    "Pull the template's data into vda",
    hints=(
        "A block pull merges up: it copies the backing chain's data into the top image, live, and drops the "
        "backing file, so the guest no longer needs the template.",
        "virsh blockpull DOMAIN vda, waiting for the job to finish",
    ),
    zh="把模板的数据拉进 vda",
    hints_zh=(
        "块拉取（block pull）是向上合并：它在线把 backing 链里的数据复制进顶层镜像，并去掉后端文件，"
        "这样虚拟机就不再需要模板了。",
        "virsh blockpull DOMAIN vda，并等待任务完成",
    ),
)
def pull(host: Host, p: SnapshotParams) -> Checks:
    top = host.image(p.disk).info()
    backing = top.backing_file if top else None
    live = host.domain(p.domain).live
    live_vda = live.disk("vda") if live else None
    live_chain = live_vda.backing_files() if live_vda else []
    yield check(
        "flattened",
        "vda no longer needs the template: no backing file in the image nor in the live XML",
        top is not None and backing is None and live_vda is not None and not live_chain,
        expected=f"{_name(p.disk)}: no backing file; live backingStore empty",
        actual=("missing" if top is None else f"backing file {backing or 'none'}")
        + ("; live: not running" if live_vda is None else f"; live chain: {', '.join(live_chain) or 'empty'}"),
        hint=f"the template's data has to be copied into vda while the guest runs (a merge upwards); then "
        f"{_name(p.base)} is free",
        zh="vda 不再依赖模板：镜像里和运行时 XML 里都没有后端文件",
        hint_zh=f"需要在虚拟机运行时把模板的数据复制进 vda（向上合并）；之后 {_name(p.base)} 就不再被占用了",
    )


# -- 5. internal snapshots ------------------------------------------------------------


@step(
    5,
    "Build a tree of internal snapshots",
    hints=(
        "Without --disk-only a snapshot of a running guest is internal: disk, RAM and device state inside the "
        "qcow2. A new snapshot's parent is the current one; a revert makes an older one current again, so the next "
        "snapshot starts a second branch. Take them after the pull: they keep reading through the backing file.",
        "virsh snapshot-create-as DOMAIN NAME for each, with the version file written (and synced) in the guest "
        "before; virsh snapshot-revert DOMAIN NAME in between",
    ),
    zh="用内部快照搭一棵快照树",
    hints_zh=(
        "不加 --disk-only 时，对运行中虚拟机做的快照是内部快照：磁盘、内存和设备状态都存放在 qcow2 里面。"
        "新快照的父快照就是当前快照；回滚会让较早的快照重新成为当前快照，于是下一个快照就开出第二个分支。要在 "
        "pull 之后再做：内部快照会一直透过后端文件读取数据。",
        "每个快照都用 virsh snapshot-create-as DOMAIN NAME，之前先在虚拟机里写好版本文件（并 sync）；"
        "两个分支之间执行 virsh snapshot-revert DOMAIN NAME",
    ),
)
def internal(host: Host, p: SnapshotParams) -> Checks:
    vm = host.domain(p.domain)
    snaps = vm.snapshots()
    top = host.image(p.disk).info()
    yield _internal(p, snaps, top)
    yield _tree(p, snaps, vm.current_snapshot)
    yield _contents(host, p, top)


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
        f"internal snapshots {', '.join(p.snapshots)} of the running guest: RAM and disk, inside {_name(p.disk)}",
        ok,
        expected="each: state running, memory internal, vda internal; listed by qemu-img snapshot -l",
        actual="; ".join(rows),
        hint="an internal snapshot of a running guest holds its RAM too, inside the qcow2 (qemu-img snapshot -l "
        "lists them with their VM size); a disk-only snapshot is external",
        zh=f"运行中虚拟机的内部快照 {', '.join(p.snapshots)}：包含内存和磁盘，存放在 {_name(p.disk)} 里面",
        hint_zh="运行中虚拟机的内部快照连内存也一起保存在 qcow2 里面（qemu-img snapshot -l 会列出它们和各自的 VM "
        "SIZE）；仅磁盘快照是外部快照",
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
        hint=f"a snapshot's parent is the current snapshot when it is taken: go back to {clean} before the second "
        "branch (virsh snapshot-list --tree shows the shape)",
        zh=f"{v1} 和 {v2} 都是 {clean} 的子快照（中间做过一次回滚），虚拟机从 {v2} 继续运行",
        hint_zh=f"快照的父快照就是创建它时的当前快照：开第二个分支之前先回滚到 {clean}（virsh snapshot-list "
        "--tree 可以看到树的形状）",
    )


def _contents(host: Host, p: SnapshotParams, top: ImageInfo | None) -> Check:
    clean, v1, v2 = p.snapshots
    asked = {clean: None, v1: v1, v2: v2}
    in_image = set(top.snapshots) if top else set()
    rows, ok = [], True
    for name, want in asked.items():
        if name not in in_image:
            ok = False
            rows.append(f"{name}: not in {_name(p.disk)}")
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
        hint="write (and sync) the version file in the guest before each snapshot; and never pull or rebase an "
        "image after taking internal snapshots: they keep reading what they never copied through the old backing "
        "file",
        zh="每个内部快照里都是干净的文件系统，内容是快照之前写入的数据",
        hint_zh="每次打快照之前，先在虚拟机里写好版本文件（并 sync）；做了内部快照之后，绝不要再对镜像做 pull 或 "
        "rebase：快照里没有复制过来的数据，仍然要透过原来的后端文件去读",
    )
