"""Every lab's parameters: plain JSON, stable per trainee, different between trainees where they vary."""

from __future__ import annotations

import json

import pytest

from kvmlab.connection import Connection
from kvmlab.errors import GuestNotBuilt
from kvmlab.labs import registry
from kvmlab.session import LabSession
from kvmlab.trainee import Trainee
from tests.helpers import private_test_host

LABS = registry.all_labs()


@pytest.mark.parametrize("lab", LABS, ids=[lab.id for lab in LABS])
def test_params_are_plain_json_and_stable(lab: registry.Lab) -> None:
    conn = Connection(private_test_host())
    for trainee in ("default", "alice"):
        try:
            first = LabSession(lab, Trainee(trainee), conn).params.as_dict()
        except GuestNotBuilt:
            pytest.skip(f"{lab.id}'s parameters come from the built guest (the integration tests cover it)")
        json.dumps(first)  # lab params --json and the notebooks print these
        again = LabSession(lab, Trainee(trainee), conn).params.as_dict()
        assert first == again, f"{lab.id}: parameters of {trainee} changed between two calls"


def test_two_trainees_never_share_a_subnet_in_the_networks_lab() -> None:
    conn = Connection(private_test_host())
    subnets = [
        {n["subnet"] for n in LabSession(registry.get("networks"), Trainee(t), conn).params.as_dict()["nets"]}
        for t in ("alice", "bob")
    ]
    shared = subnets[0] & subnets[1]
    assert shared <= {"192.168.122.0/24"}, f"trainees share {shared}"  # 122 is never started: it shows the clash
