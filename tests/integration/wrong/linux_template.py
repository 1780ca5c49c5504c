from __future__ import annotations

import hashlib
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

from kvmlab import guestfs, paths
from kvmlab.labs.linux_template import TemplateParams, boot_clone, clone, seal
from kvmlab.procs import run
from kvmlab.toolkit import Toolkit
from tests.integration.wrong import Wrong

LAB = "linux-template"


# A shared checkpoint: virt-sysprep takes ~20 s under TCG, and every known-wrong solution seals the
# same starting base the same way. The first seal of a run is real; a later one with the same
# image (by content) and the same options puts that result in place. What is graded is still the
# sealed image virt-sysprep made, on this lab's own base file.
_SEALED: dict[tuple[str, tuple[str, ...]], Path] = {}


def _seal(s: Toolkit, image: str, extra: list[str]) -> None:
    key = (hashlib.sha256(Path(image).read_bytes()).hexdigest(), tuple(extra))
    kept = _SEALED.get(key)
    if kept is not None and kept.is_file():
        run(["cp", "--sparse=always", str(kept), image])
        return
    seal(s, image, extra)
    kept = paths.ensure_dir(paths.cache_dir() / "sealed-bases") / f"{key[0][:16]}-{len(_SEALED)}.qcow2"
    run(["cp", "--sparse=always", image, str(kept)])
    _SEALED[key] = kept


def _params(s: Toolkit) -> TemplateParams:
    p = s.params
    assert isinstance(p, TemplateParams)
    return p


def _overlay(p: TemplateParams, disk: str) -> None:
    run(["qemu-img", "create", "-q", "-f", "qcow2", "-b", p.base, "-F", "qcow2", disk])


def _full_copy(p: TemplateParams, disk: str) -> None:
    run(["qemu-img", "convert", "-O", "qcow2", p.base, disk])


def _copied_xml(s: Toolkit, p: TemplateParams, name: str, disk: str) -> None:
    """virsh dumpxml of the template, renamed, <uuid> deleted, disk and log changed, the <mac> left in."""
    root = ET.fromstring(s.virsh("dumpxml", "--inactive", p.template))
    root.find("name").text = name  # type: ignore[union-attr]
    root.remove(root.find("uuid"))  # type: ignore[arg-type]
    root.find("devices/disk/source").set("file", disk)  # type: ignore[union-attr]
    for log in root.findall("devices/*/log"):
        log.set("file", str(s.path(f"{name}.console.log")))
    s.connection.conn.defineXML(ET.tostring(root, encoding="unicode"))


def _template(
    sealed: bool = True,
    read_only: bool = True,
    make_disk: Callable[[TemplateParams, str], None] = _overlay,
    copied_xml: bool = False,
    seal_after_overlays: bool = False,
    clone1_driver: str | None = None,
) -> Callable[[Toolkit], None]:
    def apply(s: Toolkit) -> None:
        p = _params(s)
        if sealed and not seal_after_overlays:
            _seal(s, p.base, ["--hostname", p.hostname])
        if read_only and not seal_after_overlays:
            run(["chmod", "0444", p.base])
        for _name, disk in p.clones:
            make_disk(p, disk)
        if seal_after_overlays:  # the base changes under overlays that already exist
            _seal(s, p.base, ["--hostname", p.hostname])
            run(["chmod", "0444", p.base])
        for name, disk in p.clones:
            if copied_xml:
                _copied_xml(s, p, name, disk)
            else:
                clone(s, p.template, name, disk)
        if clone1_driver:
            # A hand-edited definition: the qcow2 overlay opened as another format.
            run(["virt-xml", "--connect", s.uri, p.clone1, "--edit", "--disk", f"driver.type={clone1_driver}"])
        boot_clone(s, p.clone1)

    return apply


def _machine_id_emptied(s: Toolkit) -> None:
    """virt-sysprep, then the machine-id truncated last: no id of its own, but no first boot either."""
    p = _params(s)
    guestfs.run_tool(
        ["virt-sysprep", "-a", p.base, "--hostname", p.hostname, "--truncate", "/etc/machine-id"], s.verdict.accel
    )
    _template(sealed=False)(s)


def _sealed_without_hostname(s: Toolkit) -> None:
    """The virt-customize way, by hand, forgetting --hostname."""
    p = _params(s)
    guestfs.run_tool(
        [
            "virt-customize", "-a", p.base,
            "--write", "/etc/machine-id:uninitialized",
            "--delete", "/etc/ssh/ssh_host_*",
            "--truncate", "/var/log/messages",
            "--delete", "/root/.bash_history",
        ],
        s.verdict.accel,
    )  # fmt: skip
    _template(sealed=False)(s)


WRONG = [
    Wrong("full-copies-instead-of-overlays", _template(make_disk=_full_copy), frozenset({"clones-backed"})),
    Wrong(
        "not-sealed",
        _template(sealed=False),
        frozenset({"sealed-machine-id", "sealed-ssh-keys", "sealed-hostname", "sealed-logs", "sealed-history"}),
    ),
    Wrong("hostname-not-reset", _sealed_without_hostname, frozenset({"sealed-hostname"})),
    Wrong("base-left-writable", _template(read_only=False), frozenset({"base-read-only"})),
    Wrong("copied-xml-keeps-the-mac", _template(copied_xml=True), frozenset({"clones-distinct-mac"})),
    Wrong("sealed-after-the-overlays", _template(seal_after_overlays=True), frozenset({"base-final-before-overlays"})),
    # The clone boots anyway, from the initramfs alone (hostname=kvmlab machine-id=none).
    Wrong("clone-disk-opened-as-raw", _template(clone1_driver="raw"), frozenset({"clones-defined", "clone-boots"})),
    Wrong("machine-id-emptied-not-uninitialized", _machine_id_emptied, frozenset({"sealed-machine-id"})),
]
