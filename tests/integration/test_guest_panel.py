"""The live guest panel and `lab status --watch`, on a real running guest.

The lesson of the hot-add labs made visible: a disk attached with `--live`
shows in the live definition at once (libvirt's event redraws the panel, no
poll needed), then in the guest, and never in the persistent definition.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kvmlab.guestpanel import GuestPanel, guest_html
from kvmlab.guestview import view
from kvmlab.labs import registry
from kvmlab.session import LabSession
from kvmlab.trainee import Trainee
from tests.helpers import run_in_pty


@pytest.fixture(scope="module")
def lab(system: object) -> Iterator[LabSession]:
    session = LabSession(registry.get("hotadd-disk"), Trainee("gpanel"))
    session.finish()
    session.start()
    yield session
    session.finish()


def _attach(session: LabSession, target: str) -> None:
    p = session.params
    image = Path(str(p.image)).with_name(f"panel-{target}.qcow2")  # type: ignore[attr-defined]
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(image), "64M"], check=True)
    subprocess.run(
        [
            "virsh",
            "-c",
            session.uri,
            "attach-disk",
            p.domain,
            str(image),
            target,  # type: ignore[attr-defined]
            "--driver",
            "qemu",
            "--subdriver",
            "qcow2",
            "--live",
        ],
        check=True,
        capture_output=True,
    )


def _wait(pred: object, seconds: float = 30) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if pred():  # type: ignore[operator]
            return True
        time.sleep(0.2)
    return False


def test_the_panel_shows_live_persistent_and_guest_and_redraws_on_events(lab: LabSession) -> None:
    domain = lab.params.domain  # type: ignore[attr-defined]
    lab.toolkit.wait_ready(domain)
    g = view(lab.connection.conn, domain)
    assert g.state.startswith("running") and g.agent, g
    vda = next(d for d in g.disks if d.name == "vda")
    assert vda.live and vda.config and vda.in_guest == "vda" and not vda.differs
    assert g.vcpus_live and g.vcpus_online == g.vcpus_live and g.guest_memtotal_kib

    # A poll interval far longer than the test: only libvirt's device-added event can redraw it in time.
    panel = GuestPanel(lab.uri, lambda: [domain], poll=600)
    try:
        before = panel.refreshes
        _attach(lab, "vdc")
        assert _wait(lambda: "vdc" in panel.body.value, 10), "the event did not redraw the panel"
        assert panel.refreshes > before
        g = next(v for v in panel.views if v.name == domain)
        vdc = next(d for d in g.disks if d.name == "vdc")
        assert vdc.live and not vdc.config and vdc.differs  # --live only: gone after a restart
        assert "only live" in guest_html(g)

        # The guest kernel sees it a moment later (a poll catches that: no event for it), under its own
        # name: the guest names disks in the order it finds them, so libvirt's vdc is the guest's vdb.
        def seen_in_guest() -> bool:
            disks = view(lab.connection.conn, domain).disks
            return any(d.name == "vdc" and d.in_guest == "vdb" for d in disks)

        assert _wait(seen_in_guest, 30)
    finally:
        panel.stop()
    assert not panel._thread.is_alive()


def test_the_panel_stops_when_its_notebook_closes(lab: LabSession) -> None:
    domain = lab.params.domain  # type: ignore[attr-defined]
    panel = GuestPanel(lab.uri, lambda: [domain], poll=0.2)
    panel._view_count = 1  # the frontend showed it...
    assert _wait(lambda: panel.refreshes > 2, 20)
    panel._view_count = 0  # ...and the notebook closed
    panel._thread.join(timeout=20)
    assert not panel._thread.is_alive() and "stopped" in panel.footer.value


def test_lab_status_watch_in_a_terminal(lab: LabSession) -> None:
    env = dict(os.environ)
    text = run_in_pty(
        [
            "lab",
            "status",
            "--watch",
            "--trainee",
            "gpanel",
            "--lab",
            "hotadd-disk",
            "--interval",
            "0.5",
            "--rounds",
            "2",
        ],
        [],
        env,
        timeout=90,
    )
    assert "vda" in text and "running" in text, text[-1500:]
    assert "persistent" in text and "in guest" in text
    assert sys.executable  # the CLI ran in this venv
