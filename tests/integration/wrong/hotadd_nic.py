from __future__ import annotations

from collections.abc import Callable

from kvmlab.labs._restart import restart
from kvmlab.toolkit import Toolkit
from tests.integration.wrong import Wrong

LAB = "hotadd-nic"


def _attach(
    model: str | None = "virtio", mac: bool = True, flags: tuple[str, ...] = ("--live", "--config")
) -> Callable[[Toolkit], None]:
    def apply(s: Toolkit) -> None:
        p = s.params
        extra = (["--model", model] if model else []) + (["--mac", p.mac] if mac else [])  # type: ignore[attr-defined]
        s.virsh("attach-interface", p.domain, "--type", "network", "--source", p.network, *extra, *flags)  # type: ignore[attr-defined]

    return apply


def _cold_plug(s: Toolkit) -> None:
    """The NIC written to the definition only, then the guest restarted: it has the NIC, cold-plugged."""
    _attach(flags=("--config",))(s)
    restart(s, s.params.domain)  # type: ignore[attr-defined]


def _crash_then_start(s: Toolkit) -> None:
    """The definition edited, then the guest killed and brought back by `lab start` (a fresh QEMU)."""
    _attach(flags=("--config",))(s)
    s.virsh("destroy", s.params.domain)  # type: ignore[attr-defined]
    s.lab.start(s)


def _model_given_to_one_view_only(s: Toolkit) -> None:
    """The same NIC (same MAC) hot-added as virtio, but written to the definition without a model:
    after the next boot it is libvirt's default, an emulated rtl8139."""
    _attach(flags=("--live",))(s)
    _attach(model=None, flags=("--config",))(s)


WRONG = [
    Wrong("live-only", _attach(flags=("--live",)), frozenset({"nic-config"})),
    Wrong("config-only", _attach(flags=("--config",)), frozenset({"nic-live", "nic-hotplugged", "guest-sees-nic"})),
    # No --model: libvirt picks an emulated rtl8139, which the guest has no driver for.
    Wrong("no-model", _attach(model=None), frozenset({"nic-model", "guest-sees-nic"})),
    Wrong("e1000", _attach(model="e1000"), frozenset({"nic-model", "guest-sees-nic"})),
    # No --mac: a random MAC, so this is not the NIC that was asked for.
    Wrong(
        "no-mac",
        _attach(mac=False),
        frozenset({"nic-live", "nic-config", "nic-model", "nic-hotplugged", "guest-sees-nic"}),
    ),
    Wrong("cold-plug-by-restart", _cold_plug, frozenset({"nic-hotplugged"})),
    Wrong("cold-plug-by-crash-and-lab-start", _crash_then_start, frozenset({"nic-hotplugged"})),
    Wrong("model-given-to-the-running-guest-only", _model_given_to_one_view_only, frozenset({"nic-model"})),
]
