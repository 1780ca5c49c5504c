"""Option tables for qemu-img and the virt-* tools (virsh's come from virsh itself).

Only what the bank's command answers use, plus the common options a learner
may add; an option not listed here is reported as unknown, which the test
suite checks against each tool's own --help so this table cannot lie.
"""

from __future__ import annotations

from functools import cache

from kvmlab.quiz.cmdspec import Param, Spec


def _v(name: str, *aliases: str, repeat: bool = False, size: str | None = None) -> Param:
    return Param(name, value=True, repeat=repeat, size_unit=size, aliases=aliases)


def _f(name: str, *aliases: str) -> Param:
    return Param(name, value=False, aliases=aliases)


def _pos(name: str, required: bool = True, size: str | None = None) -> Param:
    return Param(name, value=True, positional=True, required=required, size_unit=size)


_IMG_COMMON = (_v("-f"), _f("-q"), _v("--object", repeat=True), _f("--image-opts"))
_FORCE_SHARE = _f("-U", "--force-share")

QEMU_IMG: dict[str, tuple[tuple[Param, ...], bool]] = {
    "create": (
        (
            *_IMG_COMMON,
            _v("-b"),
            _v("-F"),
            _v("-o", repeat=True),
            _f("-u"),
            _pos("filename"),
            _pos("size", required=False, size="b"),
        ),
        False,
    ),
    "info": ((*_IMG_COMMON, _FORCE_SHARE, _f("--backing-chain"), _v("--output"), _pos("filename")), False),
    "check": ((*_IMG_COMMON, _FORCE_SHARE, _v("-r"), _v("--output"), _v("-T"), _pos("filename")), False),
    "convert": (
        (
            *_IMG_COMMON,
            _FORCE_SHARE,
            _v("-O"),
            _v("-o", repeat=True),
            _f("-c"),
            _f("-p"),
            _v("-S"),
            _v("-t"),
            _v("-T"),
            _f("-W"),
            _f("-n"),
            _v("-B"),
            _v("-l"),
            _v("-m"),
            _v("-F"),
            _f("--salvage"),
            _v("--bitmaps"),
            _f("--skip-broken-bitmaps"),
        ),
        True,
    ),
    "resize": ((*_IMG_COMMON, _f("--shrink"), _v("--preallocation"), _pos("filename"), _pos("size", size="b")), False),
    "snapshot": ((*_IMG_COMMON, _FORCE_SHARE, _f("-l"), _v("-c"), _v("-a"), _v("-d"), _pos("filename")), False),
    "rebase": (
        (*_IMG_COMMON, _FORCE_SHARE, _v("-b"), _v("-F"), _f("-u"), _f("-p"), _v("-t"), _v("-T"), _pos("filename")),
        False,
    ),
    "commit": ((*_IMG_COMMON, _v("-b"), _f("-d"), _f("-p"), _v("-t"), _v("-r"), _pos("filename")), False),
    "map": (
        (*_IMG_COMMON, _FORCE_SHARE, _v("--output"), _v("--start-offset"), _v("--max-length"), _pos("filename")),
        False,
    ),
    "measure": (
        (
            *_IMG_COMMON,
            _FORCE_SHARE,
            _v("--output"),
            _v("-O"),
            _v("-o", repeat=True),
            _v("-l"),
            _v("--size", size="b"),
            _pos("filename", required=False),
        ),
        False,
    ),
    "bench": (
        (
            *_IMG_COMMON,
            _FORCE_SHARE,
            _v("-c"),
            _v("-d"),
            _f("-n"),
            _v("-i"),
            _v("-o"),
            _v("-s", size="b"),
            _v("-S", size="b"),
            _v("-t"),
            _f("-w"),
            _v("--pattern"),
            _v("--flush-interval"),
            _f("--no-drain"),
            _pos("filename"),
        ),
        False,
    ),
    "amend": ((*_IMG_COMMON, _v("-o", repeat=True), _f("-p"), _v("-t"), _f("--force"), _pos("filename")), False),
}

_GUESTFS_COMMON = (
    _v("-a", "--add", repeat=True),
    _v("-d", "--domain"),
    _v("-c", "--connect"),
    _v("--format"),
    _f("-v", "--verbose"),
    _f("-x"),
    _f("-q", "--quiet"),
)

VIRT_TOOLS: dict[str, tuple[tuple[Param, ...], bool]] = {
    "virt-customize": (
        (
            *_GUESTFS_COMMON,
            _v("--root-password"),
            _v("--password", repeat=True),
            _v("--hostname"),
            _v("--run-command", repeat=True),
            _v("--run", repeat=True),
            _v("--firstboot", repeat=True),
            _v("--firstboot-command", repeat=True),
            _v("--install", repeat=True),
            _v("--uninstall", repeat=True),
            _v("--edit", repeat=True),
            _v("--upload", repeat=True),
            _v("--copy-in", repeat=True),
            _v("--delete", repeat=True),
            _v("--mkdir", repeat=True),
            _v("--write", repeat=True),
            _v("--timezone"),
            _f("--selinux-relabel"),
            _f("-n", "--dry-run"),
            _f("--no-network"),
            _v("--smp"),
            _v("-m", "--memsize"),
            _v("--ssh-inject", repeat=True),
        ),
        False,
    ),
    "virt-sysprep": (
        (
            *_GUESTFS_COMMON,
            _v("--operations", "--operation", repeat=True),
            _v("--enable"),
            _v("--hostname"),
            _v("--root-password"),
            _v("--password", repeat=True),
            _v("--firstboot-command", repeat=True),
            _v("--run-command", repeat=True),
            _f("--list-operations"),
            _f("-n", "--dry-run"),
            _v("--keep-user-accounts"),
            _v("--remove-user-accounts"),
            # virt-sysprep runs virt-customize's operations too (the linux-template lab's seal writes
            # /etc/machine-id with --write).
            _v("--write", repeat=True),
            _v("--upload", repeat=True),
            _v("--copy-in", repeat=True),
            _v("--delete", repeat=True),
            _v("--mkdir", repeat=True),
            _v("--install", repeat=True),
            _v("--edit", repeat=True),
            _v("--run", repeat=True),
            _v("--firstboot", repeat=True),
            _v("--ssh-inject", repeat=True),
            _v("--timezone"),
            _f("--selinux-relabel"),
        ),
        False,
    ),
    "virt-edit": ((*_GUESTFS_COMMON, _v("-e", "--expr"), _v("-b", "--backup"), _pos("file")), False),
    "virt-cat": ((*_GUESTFS_COMMON, _pos("file")), False),
    "virt-ls": ((*_GUESTFS_COMMON, _f("-l", "--long"), _f("-R", "--recursive"), _pos("directory")), False),
    "virt-df": ((*_GUESTFS_COMMON, _f("-h", "--human-readable")), False),
    "virt-filesystems": (
        (*_GUESTFS_COMMON, _f("-l", "--long"), _f("--all"), _f("--partitions"), _f("--filesystems")),
        False,
    ),
    "virt-inspector": ((*_GUESTFS_COMMON,), False),
    # virt-diff: -a/-d name the first guest, -A/-D the second (virt-diff --help).
    "virt-diff": (
        (
            _v("-a", "--add", repeat=True),
            _v("-A", repeat=True),
            _v("-d", "--domain"),
            _v("-D"),
            _v("-c", "--connect"),
            _v("--format"),
            _f("--all"),
            _f("--atime"),
            _f("--checksum"),
            _f("--csv"),
            _f("--dir-links"),
            _f("--dir-times"),
            _f("--extra-stats"),
            _f("-h", "--human-readable"),
            _f("--times"),
            _f("--time-days"),
            _f("--time-relative"),
            _f("--time-t"),
            _f("--uids"),
            _f("--xattrs"),
            _f("-v", "--verbose"),
            _f("-x"),
        ),
        False,
    ),
    # guestfish --ro|--rw -i copy-out|copy-in "$@": guestfish's options, then paths kept in
    # order (copy-out: guest paths..., local directory; copy-in: local paths..., guest directory).
    "virt-copy-out": ((*_GUESTFS_COMMON, _v("-m", "--mount", repeat=True)), True),
    "virt-copy-in": ((*_GUESTFS_COMMON, _v("-m", "--mount", repeat=True)), True),
    "virt-sparsify": (
        (
            _f("--in-place"),
            _v("--format"),
            _v("--convert"),
            _f("--compress"),
            _f("-q", "--quiet"),
            _pos("indisk"),
            _pos("outdisk", required=False),
        ),
        False,
    ),
    "guestfish": (
        (*_GUESTFS_COMMON, _f("-i", "--inspector"), _f("--rw", "-w"), _f("--ro", "-r"), _v("-m", "--mount"), _f("-N")),
        True,
    ),
    "virt-clone": (
        (
            _v("-o", "--original"),
            _v("-n", "--name"),
            _v("-f", "--file", repeat=True),
            _f("--auto-clone"),
            _v("-m", "--mac", repeat=True),
            _v("--connect"),
            _f("--preserve-data"),
            _f("--nonsparse"),
            _f("--check"),
        ),
        False,
    ),
    "virt-install": (
        (
            _v("-n", "--name"),
            _v("--memory"),
            _v("--vcpus"),
            _v("--cpu"),
            _v("--disk", repeat=True),
            _v("-w", "--network", repeat=True),
            _v("--os-variant", "--osinfo"),
            _f("--import"),
            _v("--graphics"),
            _v("--video"),
            _v("--cdrom", "-c"),
            _v("-l", "--location"),
            _v("--boot"),
            _f("--noautoconsole"),
            _v("--virt-type"),
            _v("--connect"),
            _v("--console"),
            _v("--channel"),
            _v("--controller", repeat=True),
            _v("--features"),
            _v("--clock"),
            _v("--memtune"),
            _v("--cputune"),
            _v("--memorybacking"),
            _v("--iothreads"),
            _v("--hostdev", repeat=True),
            _f("--print-xml"),
            _f("--dry-run"),
            _v("--extra-args"),
            _f("--pxe"),
            _v("--sysinfo"),
        ),
        False,
    ),
    "virt-v2v": (
        (
            _v("-i"),
            _v("-ic"),
            _v("-if"),
            _v("-o"),
            _v("-oc"),
            _v("-of"),
            _v("-on"),
            _v("-os"),
            _v("-oo", repeat=True),
            _v("-io", repeat=True),
            _f("--in-place"),
            _f("-v"),
            _f("-x"),
            _f("-q"),
            _pos("name"),
        ),
        False,
    ),
    "virt-host-validate": ((_f("-q", "--quiet"), _pos("hvtype", required=False)), False),
    "virt-xml": (
        (
            _v("--edit"),
            _v("--add-device"),
            _v("--remove-device"),
            _v("--disk"),
            _v("--network"),
            _v("--vcpus"),
            _v("--memory"),
            _f("--update"),
            _f("--define"),
            _v("--connect"),
            _pos("domain"),
        ),
        False,
    ),
}


# -- ip (iproute2) --------------------------------------------------------------
# ip's options are bare keywords (`ip tuntap add dev tap0 mode tap`); its subcommand is
# an object and a command ("link add", "tuntap delete"). Only the forms the bank uses.


def _kw(name: str, *aliases: str, required: bool = False) -> Param:
    """A keyword that takes a value (mode tap)."""
    return Param(name, value=True, required=required, aliases=aliases)


def _kwflag(name: str) -> Param:
    """A bare keyword on its own (multi_queue, up)."""
    return Param(name, value=False)


def _device(required: bool = True) -> Param:
    """The device, named by `dev X`, `name X` or in position."""
    return Param("name", value=True, positional=True, required=required, aliases=("dev",))


# ip's own options, before the object (ip -d link show); any of its spellings.
_IP_GLOBAL = (
    _f("-d", "-details", "--details"),
    _f("-s", "-stats", "-statistics", "--stats"),
    _f("-br", "-brief", "--brief"),
    _f("-j", "-json", "--json"),
    _f("-p", "-pretty", "--pretty"),
    _f("-c", "-color", "--color"),
)
_TUNTAP_OPTS = (
    _kw("mode", required=True),  # ip refuses a tuntap add or del without it
    _kw("user"),
    _kw("group"),
    _kwflag("one_queue"),
    _kwflag("pi"),
    _kwflag("vnet_hdr"),
    _kwflag("multi_queue"),
)

IP: dict[str, tuple[Param, ...]] = {
    "tuntap add": (_device(required=False), *_TUNTAP_OPTS),
    "tuntap delete": (_device(), *_TUNTAP_OPTS),
    "tuntap show": (),
    "link add": (
        _kw("link"),
        _device(),
        _kw("type", required=True),
        _kw("address"),
        _kw("mtu"),
        _kw("txqueuelen"),
        _kw("numtxqueues"),
        _kw("numrxqueues"),
        _kwflag("up"),
        _kw("mode"),  # macvlan/macvtap: private | vepa | bridge | passthru | source
        _kw("id"),  # vlan
        _kw("protocol"),  # vlan: 802.1Q | 802.1ad
        _kw("vlan_filtering"),  # bridge
    ),
    "link delete": (_device(), _kw("type")),
    "link show": (_device(required=False), _kw("type"), _kw("master"), _kwflag("up")),
}
# The abbreviations ip itself accepts for these objects and commands.
_IP_OBJECTS = {"l": "link", "li": "link", "lin": "link", "link": "link", "tuntap": "tuntap", "tap": "tuntap"}
_IP_COMMANDS = {
    **dict.fromkeys(("a", "ad", "add"), "add"),
    **dict.fromkeys(("d", "de", "del", "dele", "delet", "delete"), "delete"),
    **dict.fromkeys(("sh", "sho", "show", "list", "lst", "ls"), "show"),
}

# -- cat ---------------------------------------------------------------------------
CAT = (_f("-A", "--show-all"), _f("-n", "--number"), _f("-v", "--show-nonprinting"))


def has_subcommands(tool: str) -> bool:
    return tool in ("qemu-img", "ip")


def split_subcommand(tool: str, words: list[str]) -> tuple[str, list[str]]:
    """The subcommand and the words after it: `ip -d l sh X` is ("link show", ["-d", "X"])."""
    if tool != "ip":
        return words[0], words[1:]
    n = next((i for i, w in enumerate(words) if not w.startswith("-")), len(words))
    lead, rest = words[:n], words[n:]
    if not rest:
        return "", lead  # no object: lookup finds nothing and says so
    obj = _IP_OBJECTS.get(rest[0], rest[0])
    command = _IP_COMMANDS.get(rest[1], rest[1]) if len(rest) > 1 else "show"  # `ip link` lists links
    return f"{obj} {command}", [*lead, *rest[2:]]


def known_tools() -> list[str]:
    return ["cat", "ip", "qemu-img", *sorted(VIRT_TOOLS)]


@cache
def lookup(tool: str, sub: str | None) -> Spec | None:
    if tool == "qemu-img":
        entry = QEMU_IMG.get(sub or "")
        return Spec("qemu-img", sub, *entry) if entry else None
    if tool == "ip":
        params = IP.get(sub or "")
        return Spec("ip", sub, (*_IP_GLOBAL, *params), keywords=True) if params is not None else None
    if tool == "cat":
        return Spec("cat", None, CAT, positionals_are_list=True)
    entry = VIRT_TOOLS.get(tool)
    return Spec(tool, None, *entry) if entry else None
