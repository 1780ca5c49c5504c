"""Every command answer in the bank runs against real libvirt, so the bank cannot teach a broken command.

The answers use learner-facing names (centos, mynet, mypool, /var/lib/libvirt/images/x.qcow2);
this harness maps them onto its own objects: one lab guest (up to 4 vCPUs, 1 GiB), an isolated
network, a dir pool, a bridge with no address and a scratch directory. Answers marked
``run: syntax`` cannot run here; their options are checked against the tool's own --help.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import libvirt
import pytest

from kvmlab import guestfs
from kvmlab.guest.build import guest_files
from kvmlab.labs.base import Lab, Params
from kvmlab.procs import run
from kvmlab.quiz import bank as bankmod
from kvmlab.quiz.commands import Parsed, parse
from kvmlab.session import LabSession
from kvmlab.toolkit import Toolkit
from kvmlab.trainee import Trainee

BANK = bankmod.load(bankmod.default_dir())
COMMAND_QUESTIONS = [q for q in BANK.questions if q.type == "command"]
RUNNABLE = [q for q in COMMAND_QUESTIONS if q.run != "syntax"]
SYNTAX_ONLY = [q for q in COMMAND_QUESTIONS if q.run == "syntax"]

# virsh commands that only read: after them the harness need not restore anything. (vcpupin,
# memtune & co. are left out on purpose: with arguments they change the guest.)
READ_ONLY = frozenset(
    [
        "dumpxml",
        "dominfo",
        "domblklist",
        "domiflist",
        "domstate",
        "vcpucount",
        "vcpuinfo",
        "dommemstat",
        "list",
        "net-list",
        "net-dumpxml",
        "net-info",
        "pool-list",
        "pool-dumpxml",
        "pool-info",
        "vol-list",
        "capabilities",
        "domcapabilities",
        "nodeinfo",
        "nodedev-list",
        "nodedev-dumpxml",
        "version",
        "hostname",
        "domblkinfo",
        "domblkstat",
        "domifstat",
        "domifaddr",
        "net-dhcp-leases",
        "iothreadinfo",
        "domdisplay",
        "vncdisplay",
        "freecell",
        "sysinfo",
        "uri",
        "domjobinfo",
        "snapshot-list",
        "domfsinfo",
        "guestinfo",
        "cpu-stats",
        "nodememstats",
        "nodecpustats",
        "domblkerror",
        "domid",
        "domuuid",
        "domname",
        "nwfilter-list",
        "nwfilter-dumpxml",
        "nwfilter-binding-list",
    ]
)
# Other tools' commands that only read.
READ_ONLY_TOOLS = frozenset([("cat", None), ("ip", "link show"), ("ip", "tuntap show")])
_PATHLIKE = re.compile(r"^(/|\./|~/)|\.(img|qcow2|raw|vmdk|vdi|vhd|vhdx|iso|xml|ova)$")


@dataclass(frozen=True)
class ExecParams(Params):
    domain: str
    network: str
    pool: str
    bridge: str
    scratch: str
    ifprefix: str  # every interface an `ip` answer creates is named with this, and deleted after it


class BankHarness(Lab):
    """Objects the bank's command answers run against (not a registered lab)."""

    id: ClassVar[str] = "bank-exec"
    title: ClassVar[str] = "question bank command harness"
    topic: ClassVar[str] = "test"
    seed_questions: ClassVar[tuple[int, ...]] = ()
    notebook: ClassVar[str] = ""
    grader: ClassVar[str] = ""

    def params(self, kit: Toolkit) -> ExecParams:
        return ExecParams(
            kit.name("qx"),
            kit.name("qxnet"),
            kit.name("qxpool"),
            kit.ifname("qxbr"),
            str(kit.path("scratch")),
            kit.ifname("qi"),
        )

    def start(self, kit: Toolkit) -> None:
        p = self.params(kit)
        kit.lab_guest(kit.guest_spec("qx", vcpus=1, max_vcpus=4, memory_mib=256, max_memory_mib=1024))
        scratch = Path(p.scratch)
        obj = kit.claim("dir", str(scratch))
        scratch.mkdir(exist_ok=True)
        kit.owners.confirm(obj)
        net = kit.define_network(
            f"<network><name>{p.network}</name><bridge name='{kit.ifname('qxv')}'/>"
            "<ip address='192.168.177.1' netmask='255.255.255.0'><dhcp>"
            "<range start='192.168.177.10' end='192.168.177.20'/></dhcp></ip></network>"
        )
        if not net.isActive():
            net.create()
        pool = kit.define_pool(f"<pool type='dir'><name>{p.pool}</name><target><path>{scratch}</path></target></pool>")
        if not pool.isActive():
            pool.create(0)
        kit.make_bridge(p.bridge)

    def solve(self, kit: Toolkit) -> None:
        return None


@dataclass
class Harness:
    session: LabSession
    p: ExecParams
    original_xml: str
    original_net_xml: str = ""
    dirty: bool = False  # a command changed something: restore before the next one
    ifmap: dict[str, str] = field(default_factory=dict)  # the answer's interface names -> the harness's

    @property
    def dom(self) -> libvirt.virDomain:
        dom = self.session.host.domain(self.p.domain).handle
        assert dom is not None
        return dom


@pytest.fixture(scope="module")
def harness(system: object) -> Iterator[Harness]:
    session = LabSession(BankHarness(), Trainee("qexec"))
    session.finish()
    # Files the answers wrote into the scratch dir are the harness's own, not owned
    # objects, so finish leaves the dir: clear what an interrupted earlier run left.
    shutil.rmtree(session.lab_dir, ignore_errors=True)
    session.start()
    p: ExecParams = session.params  # type: ignore[assignment]
    h = Harness(session, p, "")
    h.original_xml = h.dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
    h.original_net_xml = session.connection.conn.networkLookupByName(p.network).XMLDesc(
        libvirt.VIR_NETWORK_XML_INACTIVE
    )
    _delete_interfaces(p)  # left by an interrupted earlier run
    yield h
    _delete_interfaces(p)
    for path in Path(p.scratch).iterdir():
        path.unlink()
    session.finish()


# Values that name something inside libvirt, not a file: never rewritten into the scratch dir.
_NOT_PATHS = {"vol", "name", "newname", "snapshotname", "checkpointname", "xpath"}
_EMBEDDED_PATH = re.compile(r"(?<==)(/[^,\s]+)")  # --diskspec vda,file=/var/lib/...qcow2


# Tools that boot the libguestfs appliance.
GUESTFS_TOOLS = frozenset(
    [
        "guestfish",
        "virt-cat",
        "virt-copy-in",
        "virt-copy-out",
        "virt-customize",
        "virt-df",
        "virt-diff",
        "virt-edit",
        "virt-filesystems",
        "virt-inspector",
        "virt-ls",
        "virt-sysprep",
    ]
)


def _guest_disk_names(parsed: Parsed, scratch: Path, guest_disk: Path | None) -> dict[str, str]:
    """libguestfs and `qemu-img -U` answers work on the guest's own disk: an image they read (-a,
    -A; the file of qemu-img -U) that no setup made in the scratch dir is the guest's disk. Paths
    inside the guest stay as written; virt-copy-out's local directory is the scratch dir."""
    images: list[str] = []
    if parsed.tool in GUESTFS_TOOLS:
        images = [*parsed.value("-a"), *parsed.value("-A")]
    elif parsed.tool == "qemu-img" and "-U" in parsed.flags:
        images = list(parsed.value("filename"))
    names = {i: str(guest_disk) for i in images if guest_disk and not (scratch / Path(i).name).exists()}
    paths = parsed.value("positional")
    if parsed.tool == "virt-copy-out" and paths:
        names.update({path: path for path in paths[:-1]})
        names[paths[-1]] = str(scratch)
    elif parsed.tool == "virt-copy-in" and paths:
        names[paths[-1]] = paths[-1]
    elif parsed.tool in ("virt-cat", "virt-edit", "virt-ls"):
        names.update({path: path for path in (*parsed.value("file"), *parsed.value("directory"))})
    elif parsed.tool == "guestfish":  # its commands (cat /etc/fstab) act inside the guest
        names.update({word: word for word in paths})
    return names


SYS_NET = Path("/sys/class/net")


def _map_ip(argv: list[str], parsed: Parsed, p: ExecParams, ifmap: dict[str, str]) -> list[str]:
    """An `ip` answer's devices become the harness's: a device it names (tap0, macvtap0, eth0.100)
    gets the harness's prefix (deleted before the next question); a parent (link eth0, master br0)
    not made earlier in the question is the harness's bridge (no address, no uplink), so nothing an
    answer makes is connected to a real network."""
    for value in parsed.value("name"):
        ifmap.setdefault(value, f"{p.ifprefix}{value}"[:15])
    names = dict(ifmap)
    for key in ("link", "master"):
        for value in parsed.value(key):
            names.setdefault(value, p.bridge)
    return [names.get(word, word) for word in argv]


def _delete_interfaces(p: ExecParams) -> None:
    """Every interface an `ip` answer made (only the harness's names carry its prefix)."""

    def made() -> list[str]:
        return sorted(d.name for d in SYS_NET.iterdir() if d.name.startswith(p.ifprefix)) if SYS_NET.is_dir() else []

    for name in made():
        if (SYS_NET / name).exists():  # a macvtap or VLAN goes with its parent
            subprocess.run(["ip", "link", "delete", "dev", name], capture_output=True, timeout=30)
    assert not made(), f"could not delete the interfaces the answers made: {made()}"


def _map(
    argv: list[str],
    q: bankmod.Question,
    p: ExecParams,
    ifmap: dict[str, str] | None = None,
    guest_disk: Path | None = None,
) -> list[str]:
    """Put the harness's objects where the answer names the learner's."""
    parsed = parse(shlex.join(argv))
    if parsed.tool == "ip":
        return _map_ip(argv, parsed, p, {} if ifmap is None else ifmap)
    names: dict[str, str] = _guest_disk_names(parsed, Path(p.scratch), guest_disk)
    for value in parsed.value("domain"):
        names[value] = p.domain
    for value in parsed.value("network"):
        names[value] = p.network
    for value in parsed.value("pool"):
        names[value] = p.pool
    if parsed.sub == "attach-interface" and parsed.value("source"):
        kind = parsed.value("type")[0] if parsed.value("type") else ""
        names[parsed.value("source")[0]] = p.network if kind == "network" else p.bridge
    keep = {v for name, values in parsed.values if name in _NOT_PATHS for v in values}
    scratch = Path(p.scratch)
    out = []
    for word in argv:
        if word in names:
            out.append(names[word])
        elif word in keep or word.startswith(("-", "/sys/", "/proc/")) or "://" in word:
            out.append(word)  # /sys and /proc: the host's own (read-only) facts
        elif _PATHLIKE.search(word) and "=" not in word:  # vdb,file=/x.qcow2: the path inside, below
            out.append(str(scratch / Path(word).name))
        else:
            out.append(_EMBEDDED_PATH.sub(lambda m: str(scratch / Path(m.group(1)).name), word))
    return out


_PBKDF_CLOCK = "Unable to get accurate CPU usage"


def _run(h: Harness, line: str, q: bankmod.Question) -> subprocess.CompletedProcess[str]:
    argv = _map(shlex.split(line), q, h.p, h.ifmap, h.session.toolkit.path(f"{h.p.domain}.qcow2"))
    if argv[0] == "virsh":
        argv = ["virsh", "-c", h.session.uri, *argv[1:]]
    if argv[0] in GUESTFS_TOOLS:  # the appliance boots under TCG here: its settings and time
        accel = h.session.toolkit.verdict.accel
        return subprocess.run(
            argv, capture_output=True, text=True, timeout=guestfs.TOOL_TIMEOUT, env=guestfs.tool_env(accel)
        )
    for _ in range(10):
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=120)
        # QEMU times PBKDF2 to pick a LUKS iteration count (crypto/pbkdf.c) and gives up when the
        # thread's CPU time (getrusage) grew by 0 ms over its first 2^15 iterations. A kernel with
        # tick-based CPU accounting (this one: HZ=250) often reports that: 16 of 40 runs of the
        # answer failed so here. That is the host's clock, not the answer: run it again.
        if _PBKDF_CLOCK not in proc.stderr:
            break
    return proc


def _restore(h: Harness, running: bool) -> None:
    """Back to the starting state: no snapshots, a fresh disk, the original definitions, an
    empty scratch dir, booted if asked. Answers may change any of these."""
    conn = h.session.connection.conn
    dom = h.dom
    if dom.isActive():
        dom.destroy()
    for snap in dom.listAllSnapshots():
        snap.delete(libvirt.VIR_DOMAIN_SNAPSHOT_DELETE_METADATA_ONLY)
    conn.defineXML(h.original_xml)
    disk = h.session.toolkit.path(f"{h.p.domain}.qcow2")
    keep = {disk, h.session.toolkit.path(f"{h.p.domain}.console.log"), Path(h.p.scratch)}
    for path in [*h.session.lab_dir.iterdir(), *Path(h.p.scratch).iterdir()]:
        if path not in keep and (path.is_file() or path.is_symlink()):
            path.unlink()  # external snapshot overlays, copies the answers made
    run(["qemu-img", "create", "-q", "-f", "qcow2", "-b", str(guest_files().disk), "-F", "raw", str(disk)])
    net = conn.networkLookupByName(h.p.network)
    if net.XMLDesc(libvirt.VIR_NETWORK_XML_INACTIVE) != h.original_net_xml:
        if net.isActive():
            net.destroy()
        net = conn.networkDefineXML(h.original_net_xml)
    if not net.isActive():
        net.create()
    conn.storagePoolLookupByName(h.p.pool).refresh(0)
    _delete_interfaces(h.p)
    h.ifmap.clear()
    if running:
        # The fresh disk and the original definition are the guest's saved ready state: restored, not booted.
        h.session.toolkit.boot_ready(dom, disk, h.session.toolkit.path(f"{h.p.domain}.console.log"))
    h.dirty = False


@pytest.mark.parametrize("q", RUNNABLE, ids=[q.id for q in RUNNABLE])
def test_command_answer_runs_on_real_libvirt(q: bankmod.Question, harness: Harness) -> None:
    want_running = q.run == "guest"
    for n, line in enumerate(q.commands):
        # Each accepted answer runs from the same starting state.
        if harness.dirty or bool(harness.dom.isActive()) != want_running:
            _restore(harness, want_running)
        for setup in q.setup:
            proc = _run(harness, setup, q)
            assert proc.returncode == 0, f"setup of {q.id} failed: {setup}\n{proc.stderr}"
            harness.dirty = True
        proc = _run(harness, line, q)
        done = proc.returncode == 0 or _agent_shutdown_done(harness, line, proc)
        assert done, f"{q.file}:{q.line}: answer {n + 1} {line!r} failed: {proc.stderr.strip()}"
        if not _only_reads(parse(line)):
            harness.dirty = True
        if parse(line).tool == "ip" and (parse(line).sub or "").endswith(" add"):
            for name in parse(line).value("name"):
                made = harness.ifmap[name]
                assert (SYS_NET / made).is_dir(), f"{q.id}: answer {n + 1} made no interface {made} ({name})"


def _agent_shutdown_done(h: Harness, line: str, proc: subprocess.CompletedProcess[str]) -> bool:
    """`virsh shutdown --mode agent` did its work though libvirt 9.0 reported an error.

    The guest powers off within milliseconds of the agent's command: libvirt may read the agent
    socket's end before QEMU's SHUTDOWN event, and then says "End of file from agent socket".
    The answer is right if the guest then shuts itself off (reason: shutdown, not destroyed or
    crashed), which is what the question asks for.
    """
    parsed = parse(line)
    if parsed.tool != "virsh" or parsed.sub != "shutdown" or "End of file from agent socket" not in proc.stderr:
        return False
    deadline = time.monotonic() + 30
    while h.dom.isActive() and time.monotonic() < deadline:
        time.sleep(0.2)
    state, reason = h.dom.state()
    return state == libvirt.VIR_DOMAIN_SHUTOFF and reason == libvirt.VIR_DOMAIN_SHUTOFF_SHUTDOWN


def _only_reads(parsed: Parsed) -> bool:
    if parsed.tool == "virsh":
        return parsed.sub in READ_ONLY
    return (parsed.tool, parsed.sub) in READ_ONLY_TOOLS


def _options_used(line: str) -> list[str]:
    parsed = parse(line)
    opts = [name for name, _ in parsed.values if name.startswith("-")] + [
        name for name in parsed.flags if name.startswith("-")
    ]
    return sorted(set(opts))


def _ip_keywords_documented(q: bankmod.Question, parsed: Parsed) -> None:
    """ip's options are keywords, documented by `ip OBJECT help` and `ip link help TYPE`."""
    obj = (parsed.sub or "").split()[0]
    helps = [["ip", "help"], ["ip", obj, "help"]]
    if obj == "link" and parsed.value("type"):
        helps.append(["ip", "link", "help", parsed.value("type")[0]])
    procs = [subprocess.run(h, capture_output=True, text=True, timeout=60) for h in helps]
    text = "".join(proc.stdout + proc.stderr for proc in procs)
    for word in sorted({name for name, _ in parsed.values} | parsed.flags):
        assert re.search(rf"(?<![\w-]){re.escape(word)}(?![\w-])", text), f"{q.id}: ip's help does not mention {word}"


@pytest.mark.parametrize("q", SYNTAX_ONLY, ids=[q.id for q in SYNTAX_ONLY])
def test_syntax_only_answers_use_options_the_tool_documents(q: bankmod.Question) -> None:
    assert q.why, "run: syntax needs a reason"
    for line in q.commands:
        tool = parse(line).tool
        if tool == "virsh":
            continue  # parsed against virsh's own help already
        if tool == "ip":
            _ip_keywords_documented(q, parse(line))
            continue
        binary = shutil.which(tool)
        assert binary, f"{tool} is not installed: make setup installs it"
        sub = [parse(line).sub] if parse(line).sub else []
        helptext = subprocess.run([binary, *sub, "--help"], capture_output=True, text=True, timeout=60)
        text = helptext.stdout + helptext.stderr
        for opt in _options_used(line):
            assert opt in text, f"{q.id}: {tool} --help does not mention {opt}"
