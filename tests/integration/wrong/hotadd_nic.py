from __future__ import annotations

from collections.abc import Callable

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


WRONG = [
    Wrong("live-only", _attach(flags=("--live",)), frozenset({"nic-config"})),
    Wrong("config-only", _attach(flags=("--config",)), frozenset({"nic-live", "guest-sees-nic"})),
    # No --model: libvirt picks an emulated rtl8139, which the guest has no driver for.
    Wrong("no-model", _attach(model=None), frozenset({"nic-model", "guest-sees-nic"})),
    Wrong("e1000", _attach(model="e1000"), frozenset({"nic-model", "guest-sees-nic"})),
    # No --mac: a random MAC, so this is not the NIC that was asked for.
    Wrong("no-mac", _attach(mac=False), frozenset({"nic-live", "nic-config", "nic-model", "guest-sees-nic"})),
]
