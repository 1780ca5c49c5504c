from __future__ import annotations

from collections.abc import Callable
from typing import cast

from kvmlab.labs._restart import restart
from kvmlab.labs.bridges import BridgeParams, make_bridge
from kvmlab.procs import run
from kvmlab.toolkit import Toolkit
from tests.integration.wrong import Wrong

LAB = "bridges"

Step = Callable[[Toolkit, BridgeParams], None]


def _attach(*flags: str, model: bool = True) -> Step:
    def apply(s: Toolkit, p: BridgeParams) -> None:
        extra = ["--model", p.model] if model else []
        s.virsh("attach-interface", p.domain, "--type", "bridge", "--source", p.bridge, *extra, *flags)

    return apply


def _solution(bridge: Step | None = None, attach: Step | None = None) -> Callable[[Toolkit], None]:
    """The reference solution with the bridge or the attach done the wrong way."""

    def apply(s: Toolkit) -> None:
        p = cast(BridgeParams, s.params)
        (bridge or (lambda _s, q: make_bridge(q)))(s, p)
        (attach or _attach("--live", "--config"))(s, p)

    return apply


def _left_down(s: Toolkit, p: BridgeParams) -> None:
    run(["ip", "link", "add", "name", p.bridge, "type", "bridge"])


def _with_address(s: Toolkit, p: BridgeParams) -> None:
    make_bridge(p)
    # A /32 from the benchmarking range: no route to any network, nothing is sent.
    run(["ip", "address", "add", "198.18.0.1/32", "dev", p.bridge])


def _with_uplink(s: Toolkit, p: BridgeParams) -> None:
    """An uplink without touching the host's network: a macvlan of a second, empty bridge.

    Deleting that bridge (finish does) deletes the macvlan with it.
    """
    make_bridge(p)
    lower = s.ifname("brup")
    s.expect("bridge", lower)
    run(["ip", "link", "add", "name", lower, "type", "bridge"])
    uplink = s.ifname("brup.mv")
    run(["ip", "link", "add", "link", lower, "name", uplink, "type", "macvlan", "mode", "bridge"])
    run(["ip", "link", "set", "dev", uplink, "master", p.bridge])


def _model_given_to_one_view_only(s: Toolkit, p: BridgeParams) -> None:
    """The NIC hot-added as virtio, then the same NIC (its MAC) written to the definition without a model:
    after the next boot it is libvirt's default, an emulated rtl8139."""
    _attach("--live")(s, p)
    live = s.host.domain(p.domain).live
    mac = next(i.mac for i in (live.interfaces() if live else []) if i.source_bridge == p.bridge)
    assert mac
    s.virsh("attach-interface", p.domain, "--type", "bridge", "--source", p.bridge, "--mac", mac, "--config")


def _cold_plug(s: Toolkit, p: BridgeParams) -> None:
    """The NIC written to the definition only, then the guest restarted: it has the NIC, cold-plugged."""
    _attach("--config")(s, p)
    restart(s, p.domain)


def _crash_then_start(s: Toolkit, p: BridgeParams) -> None:
    """The definition edited, then the guest killed and brought back by `lab start` (a fresh QEMU)."""
    _attach("--config")(s, p)
    s.virsh("destroy", p.domain)
    s.lab.start(s)


WRONG = [
    Wrong("live-only", _solution(attach=_attach("--live")), frozenset({"nic-config"})),
    Wrong(
        "config-only",
        _solution(attach=_attach("--config")),
        frozenset({"nic-live", "nic-hotplugged", "tap-enslaved", "guest-sees-nic"}),
    ),
    Wrong(
        "no-model",
        _solution(attach=_attach("--live", "--config", model=False)),
        frozenset({"nic-model", "guest-sees-nic"}),
    ),
    Wrong("bridge-left-down", _solution(bridge=_left_down), frozenset({"bridge-up"})),
    Wrong("address-on-bridge", _solution(bridge=_with_address), frozenset({"bridge-no-address"})),
    Wrong("uplink-on-bridge", _solution(bridge=_with_uplink), frozenset({"bridge-no-uplink"})),
    Wrong(
        "model-given-to-the-running-guest-only",
        _solution(attach=_model_given_to_one_view_only),
        frozenset({"nic-model"}),
    ),
    Wrong("cold-plug-by-restart", _solution(attach=_cold_plug), frozenset({"nic-hotplugged"})),
    Wrong("cold-plug-by-crash-and-lab-start", _solution(attach=_crash_then_start), frozenset({"nic-hotplugged"})),
]
