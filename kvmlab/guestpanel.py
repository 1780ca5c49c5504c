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

from kvmlab.guestview import Device, GuestView, view

POLL_SECONDS = 3.0
NO_AGENT = "no guest agent answer yet: the guest's own view is not shown"

_ZH = {
    "guest": "虚拟机",
    "state": "状态",
    "accelerator": "加速",
    "vCPUs": "vCPU",
    "memory": "内存",
    "disks": "磁盘",
    "NICs": "网卡",
    "live": "运行时",
    "persistent": "持久化",
    "in guest": "虚拟机内",
    "online in guest": "虚拟机内在线",
    "maximum": "最大",
    "current": "当前",
    "balloon": "气球",
    "guest sees": "虚拟机看到",
    "only live: gone after a restart": "只在运行时配置中：重启后消失",
    "only persistent: comes at the next boot": "只在持久化配置中：下次启动才有",
    NO_AGENT: "客户机代理还没应答：暂时看不到虚拟机内部的视角",
    "updated": "更新于",
    "stopped": "已停止刷新",
}


def _t(text: str, lang: str) -> str:
    return _ZH.get(text, text) if lang == "zh" else text


def _mib(kib: int | None) -> str:
    return "–" if kib is None else f"{kib / 1024:.0f} MiB"


def _n(value: int | None) -> str:
    return "–" if value is None else str(value)


def _yes(flag: bool) -> str:
    return "✔" if flag else "·"


def _device_rows(devices: list[Device], lang: str, agent: bool) -> str:
    rows = []
    for d in devices:
        mark = ""
        if d.differs:
            why = "only live: gone after a restart" if d.live else "only persistent: comes at the next boot"
            mark = f" <span style='color:#b06000'>⚠ {html.escape(_t(why, lang))}</span>"
        seen = (d.in_guest or "·") if agent else "?"
        rows.append(
            f"<tr><td><code>{html.escape(d.name)}</code></td><td>{_yes(d.live)}</td><td>{_yes(d.config)}</td>"
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
    cpu = (
        f"<b>{_t('vCPUs', lang)}</b>: {_t('live', lang)} {_n(g.vcpus_live)} · {_t('persistent', lang)} "
        f"{_n(g.vcpus_config)} · {_t('maximum', lang)} {_n(g.vcpus_max)} · {_t('online in guest', lang)} "
        f"{_n(g.vcpus_online)}"
    )
    mem = (
        f"<b>{_t('memory', lang)}</b>: {_t('maximum', lang)} {_mib(g.memory_max_kib)} · {_t('current', lang)} "
        f"{_mib(g.memory_current_kib)} · {_t('balloon', lang)} {_mib(g.balloon_actual_kib)} · "
        f"{_t('guest sees', lang)} {_mib(g.guest_memtotal_kib)}"
    )
    cols = (
        f"<tr style='color:#666'><th></th><th>{_t('live', lang)}</th><th>{_t('persistent', lang)}</th>"
        f"<th>{_t('in guest', lang)}</th><th></th></tr>"
    )
    table = (
        f"<table style='border-collapse:separate;border-spacing:14px 2px;margin-top:4px'>{cols}"
        f"<tr><td colspan='5'><b>{_t('disks', lang)}</b></td></tr>{_device_rows(g.disks, lang, g.agent)}"
        f"<tr><td colspan='5'><b>{_t('NICs', lang)}</b></td></tr>{_device_rows(g.nics, lang, g.agent)}</table>"
    )
    note = "" if g.agent or not g.running else f"<div style='color:#666'>{_t(NO_AGENT, lang)}</div>"
    return f"<div style='margin:4px 0 8px'>{head}<div>{cpu}</div><div>{mem}</div>{table}{note}</div>"


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
            f"<div style='color:#666;font-size:85%'>{_t('updated', self.lang)} {time.strftime('%H:%M:%S')}</div>"
        )
        return self.views

    # -- staying current -----------------------------------------------------------

    def _connection(self) -> libvirt.virConnect:
        if self._conn is None or not self._conn.isAlive():
            _start_event_loop()
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
        count = self._view_count
        return self._stop.is_set() or (self.refreshes > 1 and self._seen and count == 0)

    @property
    def _seen(self) -> bool:
        if self._view_count:
            self._was_seen = True
        return getattr(self, "_was_seen", False)

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
        self.footer.value = f"<div style='color:#666;font-size:85%'>{_t('stopped', self.lang)}</div>"
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


_loop_lock = threading.Lock()
_loop_started = False


def _start_event_loop() -> None:
    """libvirt delivers events through an event loop the client runs: one thread, once per process.

    It must be registered before the connection that wants events is opened.
    """
    global _loop_started
    with _loop_lock:
        if _loop_started:
            return
        libvirt.virEventRegisterDefaultImpl()

        def loop() -> None:
            while True:
                libvirt.virEventRunDefaultImpl()

        threading.Thread(target=loop, name="kvmlab-libvirt-events", daemon=True).start()
        _loop_started = True
