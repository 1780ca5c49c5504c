"""The live guest panel: a lab's guests as they are now, refreshed while the trainee works.

libvirt tells about lifecycle changes, devices added or removed and balloon
changes as events, so the panel redraws the moment a disk is attached in a
terminal. What the guest kernel sees has no event (the guest brings a disk or
a CPU online in its own time), so the panel also polls, lightly, every few
seconds. It stops when the notebook's last view of it closes, when the lab
finishes, or when the kernel stops.
"""

from __future__ import annotations

import contextlib
import html
import threading
import time
from collections.abc import Callable

import ipywidgets as widgets
import libvirt

from kvmlab.guestview import NO_AGENT, Device, GuestView, difference, in_guest, present, summary, view, words
from kvmlab.resources.events import run_event_loop

POLL_SECONDS = 3.0


def _device_rows(devices: list[Device], lang: str, agent: bool) -> str:
    rows = []
    for d in devices:
        why = difference(d, lang)
        mark = f" <span style='color:#b06000'>⚠ {html.escape(why)}</span>" if why else ""
        seen = in_guest(d, agent)
        rows.append(
            f"<tr><td><code>{html.escape(d.name)}</code></td><td>{present(d.live)}</td><td>{present(d.config)}</td>"
            f"<td>{html.escape(seen)}</td><td style='color:#666'>{html.escape(d.detail)}{mark}</td></tr>"
        )
    return "".join(rows)


def guest_html(g: GuestView, lang: str = "en") -> str:
    """One guest as HTML: state, vCPUs, memory, then disks and NICs with live/persistent/in-guest columns."""
    colour = "#137333" if g.state.startswith("running") else "#b06000" if g.state.startswith("paused") else "#a50e0e"
    head = (
        f"<div style='font-weight:bold'>{html.escape(g.name)} · "
        f"<span style='color:{colour}'>{html.escape(g.state)}</span>"
        f"{' · ' + html.escape(g.accel) if g.accel else ''}</div>"
    )
    lines = "".join(f"<div><b>{html.escape(label)}</b>: {html.escape(text)}</div>" for label, text in summary(g, lang))
    cols = (
        f"<tr style='color:#666'><th></th><th>{words('live', lang)}</th><th>{words('persistent', lang)}</th>"
        f"<th>{words('in guest', lang)}</th><th></th></tr>"
    )
    table = (
        f"<table style='border-collapse:separate;border-spacing:14px 2px;margin-top:4px'>{cols}"
        f"<tr><td colspan='5'><b>{words('disks', lang)}</b></td></tr>{_device_rows(g.disks, lang, g.agent)}"
        f"<tr><td colspan='5'><b>{words('NICs', lang)}</b></td></tr>{_device_rows(g.nics, lang, g.agent)}</table>"
    )
    note = "" if g.agent or not g.running else f"<div style='color:#666'>{words(NO_AGENT, lang)}</div>"
    return f"<div style='margin:4px 0 8px'>{head}{lines}{table}{note}</div>"


class GuestPanel(widgets.VBox):
    """The live guest panel. ``guests()`` names the guests to show (the lab's own, read each refresh)."""

    def __init__(self, uri: str, guests: Callable[[], list[str]], lang: str = "en", poll: float = POLL_SECONDS):
        self.uri = uri
        self.guests = guests
        self.lang = lang
        self.poll = poll
        self.body = widgets.HTML()
        self.footer = widgets.HTML()
        self.views: list[GuestView] = []
        self.refreshes = 0
        self._was_seen = False  # a notebook has shown it: a view count of 0 then means it closed
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._conn: libvirt.virConnect | None = None
        self._callbacks: list[int] = []
        super().__init__([self.body, self.footer])
        # ipywidgets counts the views the frontend shows when this starts at 0 (not None): the panel
        # knows when the notebook that showed it has closed.
        self._view_count = 0
        self.refresh()
        self._thread = threading.Thread(target=self._run, name="kvmlab-guest-panel", daemon=True)
        self._thread.start()

    # -- drawing -----------------------------------------------------------------

    def refresh(self, ask_guest: bool = True) -> list[GuestView]:
        conn = self._connection()
        self.views = [view(conn, name, ask_guest) for name in self.guests()]
        self.refreshes += 1
        self.body.value = "".join(guest_html(g, self.lang) for g in self.views) or "<i>no guest</i>"
        self.footer.value = (
            f"<div style='color:#666;font-size:85%'>{words('updated', self.lang)} {time.strftime('%H:%M:%S')}</div>"
        )
        return self.views

    # -- staying current -----------------------------------------------------------

    def _connection(self) -> libvirt.virConnect:
        if self._conn is None or not self._conn.isAlive():
            run_event_loop()
            self._conn = libvirt.open(self.uri)
            self._register(self._conn)
        return self._conn

    def _register(self, conn: libvirt.virConnect) -> None:
        """Any of these events means the picture changed: redraw now, not at the next poll."""

        def wake(*_args: object) -> None:
            self._wake.set()

        for event in (
            libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE,
            libvirt.VIR_DOMAIN_EVENT_ID_DEVICE_ADDED,
            libvirt.VIR_DOMAIN_EVENT_ID_DEVICE_REMOVED,
            libvirt.VIR_DOMAIN_EVENT_ID_BALLOON_CHANGE,
            libvirt.VIR_DOMAIN_EVENT_ID_AGENT_LIFECYCLE,
            libvirt.VIR_DOMAIN_EVENT_ID_TUNABLE,
        ):
            self._callbacks.append(conn.domainEventRegisterAny(None, event, wake, None))

    def _closed(self) -> bool:
        # Shown once, and no view left: the notebook closed (None: the frontend does not count views).
        if self._view_count:
            self._was_seen = True
        return self._stop.is_set() or (self.refreshes > 1 and self._was_seen and self._view_count == 0)

    def _run(self) -> None:
        while not self._closed():
            self._wake.wait(self.poll)
            self._wake.clear()
            if self._closed():
                break
            try:
                # The guest's side costs agent calls: asked only while a notebook shows the panel. Unseen
                # (a notebook run without a browser), libvirt's events still redraw the host's side.
                self.refresh(ask_guest=bool(self._view_count))
            except (libvirt.libvirtError, OSError):
                self._conn = None  # libvirtd restarted: reconnect at the next round
        self.footer.value = f"<div style='color:#666;font-size:85%'>{words('stopped', self.lang)}</div>"
        self._disconnect()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=10)

    def _disconnect(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        # The connection may already be dead (libvirtd restarted): nothing left to undo then.
        for cb in self._callbacks:
            with contextlib.suppress(libvirt.libvirtError):
                conn.domainEventDeregisterAny(cb)
        self._callbacks.clear()
        with contextlib.suppress(libvirt.libvirtError):
            conn.close()

    def __repr__(self) -> str:  # what nbval and plain-text frontends show
        return "\n".join(f"{g.name}: {g.state}; disks {[d.name for d in g.disks]}" for g in self.views) or "no guest"
