from __future__ import annotations

import ipaddress
import re

import pytest

from kvmlab import variants


def test_choices_are_stable_per_trainee_and_canonical_for_the_default() -> None:
    choices = [1, 2, 3, 4, 5, 6, 7, 8]
    assert variants.choose("default", "lab", "size", choices, canonical=True) == 1
    picks = {t: variants.choose(t, "lab", "size", choices, canonical=False) for t in ("alice", "bob", "carol", "dave")}
    assert picks == {t: variants.choose(t, "lab", "size", choices, canonical=False) for t in picks}
    assert len(set(picks.values())) > 1, "four trainees should not all get the same variant"


def test_class_seed_changes_the_variants(monkeypatch: pytest.MonkeyPatch) -> None:
    choices = list(range(1000))
    monkeypatch.setenv("KVMLAB_CLASS_SEED", "spring")
    spring = variants.choose("alice", "lab", "k", choices, canonical=False)
    monkeypatch.setenv("KVMLAB_CLASS_SEED", "autumn")
    assert variants.choose("alice", "lab", "k", choices, canonical=False) != spring


def test_macs_are_qemu_local_and_distinct() -> None:
    macs = {variants.mac(t, "hotadd-nic", "nic") for t in ("alice", "bob", "carol", "dave")}
    assert len(macs) == 4
    assert all(re.fullmatch(r"52:54:00(:[0-9a-f]{2}){3}", m) for m in macs)


def test_subnets_never_overlap_between_trainees_and_are_released() -> None:
    nets = [variants.subnet(f"{t}/networks/net1") for t in ("alice", "bob", "carol", "dave")]
    assert len(set(nets)) == 4
    assert variants.subnet("alice/networks/net1") == nets[0]  # stable
    for net in nets:
        n = ipaddress.ip_network(net)
        assert n.prefixlen == 24 and not n.overlaps(ipaddress.ip_network("192.0.2.0/24"))
        assert str(n) not in ("192.168.122.0/24", "192.168.133.0/24", "192.168.144.0/24", "192.168.155.0/24")
    variants.release("alice/networks/")
    assert variants.subnet("erin/networks/net1") == nets[0]  # alice's subnet is free again


def test_subnets_skip_what_the_host_already_routes() -> None:
    routed = variants._in_use_on_host()
    for i in range(5):
        net = ipaddress.ip_network(variants.subnet(f"t{i}/lab/k"))
        assert not any(net.overlaps(r) for r in routed)
