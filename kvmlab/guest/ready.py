"""Saved ready states of lab guests: a second start restores the guest instead of booting it.

The first time a lab guest boots, kvmlab waits for its readiness line, saves
it (``virsh save``: RAM and device state to a file), keeps a copy of its
overlay disk and console log, and restores it at once. Every later start of
the *same* guest (the same definition: name, UUID, MACs, paths, the same
built guest, QEMU and accelerator) copies the disk back and restores the
saved state: a running guest, ready, in about half a second instead of a boot.
That is what makes ``lab reset`` (finish, then start) take about a second.

A restored guest is a real QEMU process in the state the booted one had at
its readiness line: same disk, same console output (restored with
``append='on'`` on the live definition only, so the readiness line is still
in the log), the agent answering. libvirt reports it as "running (restored)".

Only a guest whose overlay and definition were made by this very start is
restored: a guest the trainee has already used (crashed, shut down, its disk
edited offline) boots cold, so no work of theirs is ever overwritten.

The cache lives in ``$KVMLAB_HOME/cache/ready``, an entry per guest
definition, the oldest evicted beyond ``KVMLAB_READY_CACHE_MIB`` (default
4096); ``KVMLAB_READY_CACHE_MIB=0`` turns it off.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import libvirt

from kvmlab import paths

DEFAULT_LIMIT_MIB = 4096


def limit_bytes() -> int:
    try:
        return max(0, int(os.environ.get("KVMLAB_READY_CACHE_MIB", DEFAULT_LIMIT_MIB))) * 1024 * 1024
    except ValueError:
        return DEFAULT_LIMIT_MIB * 1024 * 1024


def cache_root() -> Path:
    return paths.cache_dir() / "ready"


def key(inactive_xml: str, *context: str) -> str:
    """One entry per guest definition and what it runs on (guest build, QEMU, accelerator)."""
    digest = hashlib.sha256(inactive_xml.encode())
    for part in context:
        digest.update(b"\0" + part.encode())
    return digest.hexdigest()[:32]


def _copy(src: Path, dst: Path) -> None:
    """A sparse copy (qcow2 overlays are mostly holes), written aside and renamed into place."""
    partial = dst.with_name(dst.name + ".partial")
    subprocess.run(["cp", "--sparse=always", "--reflink=auto", str(src), str(partial)], check=True)
    partial.replace(dst)


def _live_xml_appending(xml: str) -> str:
    """The saved live definition with the console log appended to, not truncated, by the restored QEMU."""
    return xml.replace("append='off'", "append='on'").replace('append="off"', 'append="on"')


@dataclass(frozen=True)
class Entry:
    root: Path

    @property
    def state(self) -> Path:
        return self.root / "state"

    @property
    def disk(self) -> Path:
        return self.root / "disk.qcow2"

    @property
    def log(self) -> Path:
        return self.root / "console.log"

    @property
    def complete(self) -> bool:
        return (self.root / "meta.json").is_file() and all(p.is_file() for p in (self.state, self.disk, self.log))

    def size(self) -> int:
        return sum(p.stat().st_blocks * 512 for p in self.root.iterdir() if p.is_file())


def entry(cache_key: str) -> Entry:
    return Entry(cache_root() / cache_key)


def save(dom: libvirt.virDomain, cache_key: str, disk: Path, log: Path) -> Entry | None:
    """Save a guest that just became ready, keep its disk and log; the guest is stopped: restore() it."""
    if limit_bytes() == 0:
        return None
    found = entry(cache_key)
    shutil.rmtree(found.root, ignore_errors=True)
    paths.ensure_dir(found.root, 0o700)
    dom.saveFlags(str(found.state), None, libvirt.VIR_DOMAIN_SAVE_RUNNING)
    _copy(disk, found.disk)
    _copy(log, found.log)
    (found.root / "meta.json").write_text(json.dumps({"domain": dom.name(), "saved": time.time()}) + "\n")
    _evict(keep=found.root)
    return found


def restore(conn: libvirt.virConnect, found: Entry, disk: Path, log: Path) -> None:
    """Put the saved disk and log in place and resume the saved guest (running, ready)."""
    _copy(found.disk, disk)
    _copy(found.log, log)
    xml = conn.saveImageGetXMLDesc(str(found.state), libvirt.VIR_DOMAIN_SAVE_IMAGE_XML_SECURE)
    conn.restoreFlags(str(found.state), _live_xml_appending(xml), libvirt.VIR_DOMAIN_SAVE_RUNNING)
    os.utime(found.root)  # recently used: evicted last


def forget(cache_key: str) -> None:
    shutil.rmtree(entry(cache_key).root, ignore_errors=True)


def _evict(keep: Path) -> None:
    """Drop the least recently used entries beyond the size limit."""
    root = cache_root()
    entries = sorted((e for e in root.iterdir() if e.is_dir()), key=lambda e: e.stat().st_mtime, reverse=True)
    total = 0
    for e in entries:
        total += Entry(e).size()
        if total > limit_bytes() and e != keep:
            shutil.rmtree(e, ignore_errors=True)
