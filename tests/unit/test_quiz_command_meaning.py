"""Command answers compared by meaning: values (QMP JSON, XML, sizes), defaults, virsh's connection,
the guest's state, and the valid forms of the bank's questions that a competent admin types."""

from __future__ import annotations

import pytest

from kvmlab.quiz import bank
from kvmlab.quiz.check import check, check_command

BANK = bank.load(bank.default_dir())


def _q(qid: str) -> bank.Question:
    q = BANK.get(qid)
    assert q is not None, qid
    return q


# -- values compare by meaning -------------------------------------------------------------------

QMP = ['virsh qemu-monitor-command centos \'{"execute":"query-kvm"}\'']


@pytest.mark.parametrize(
    "answer",
    [
        'virsh qemu-monitor-command centos \'{"execute": "query-kvm"}\'',
        'virsh qemu-monitor-command centos \'{ "execute" : "query-kvm" }\'',
        'virsh qemu-monitor-command centos --cmd \'{"execute":\n "query-kvm"}\'',
    ],
)
def test_qmp_is_compared_as_json(answer: str) -> None:
    assert check_command(QMP, answer).correct, check_command(QMP, answer).feedback


def test_qmp_object_members_in_any_order() -> None:
    accepted = ['virsh qemu-monitor-command centos \'{"execute":"balloon","arguments":{"value":536870912}}\'']
    answer = 'virsh qemu-monitor-command centos \'{"arguments": {"value": 536870912}, "execute": "balloon"}\''
    assert check_command(accepted, answer).correct


@pytest.mark.parametrize(
    "answer",
    [
        'virsh qemu-monitor-command centos \'{"execute": "query-kvm "}\'',  # a space inside a string is data
        'virsh qemu-monitor-command centos {"execute":"query-kvm"}',  # the shell ate the quotes: not JSON
        'virsh qemu-monitor-command centos \'{"execute": "query-status"}\'',
    ],
)
def test_different_qmp_is_wrong(answer: str) -> None:
    assert not check_command(QMP, answer).correct


def test_bank_qmp_questions_take_spaced_json() -> None:
    assert check(_q("qemu-kvm-008"), 'virsh qemu-monitor-command centos --pretty \'{"execute": "query-kvm"}\'').correct
    spaced = 'virsh qemu-monitor-command centos \'{ "execute": "query-migrate" }\''
    assert check(_q("live-migration-009"), spaced).correct


def test_hmp_compares_by_words() -> None:
    accepted = ["virsh qemu-monitor-command centos --hmp 'info kvm'"]
    assert check_command(accepted, "virsh qemu-monitor-command centos --hmp '  info   kvm '").correct
    assert check_command(accepted, "virsh qemu-monitor-command centos --hmp info kvm").correct
    assert not check_command(accepted, "virsh qemu-monitor-command centos --hmp 'info kvm2'").correct


NET_UPDATE = "virsh net-update mynet add ip-dhcp-host {} --live --config"


@pytest.mark.parametrize(
    "xml",
    [
        "\"<host mac='52:54:00:00:00:33' name='web' ip='192.168.133.33'/>\"",
        '\'<host ip="192.168.133.33" mac="52:54:00:00:00:33" name="web"/>\'',
        "\"<host  mac='52:54:00:00:00:33'\n   name='web' ip='192.168.133.33' ></host>\"",
    ],
)
def test_xml_argument_compares_as_xml(xml: str) -> None:
    verdict = check(_q("networks-010"), NET_UPDATE.format(xml))
    assert verdict.correct, verdict.feedback


def test_different_xml_is_wrong() -> None:
    wrong = NET_UPDATE.format("\"<host mac='52:54:00:00:00:33' name='web' ip='192.168.133.34'/>\"")
    assert not check(_q("networks-010"), wrong).correct


def test_page_sizes_compare_by_value() -> None:
    q = _q("memory-virt-009")
    for answer in ("virsh allocpages 2048K 512", "virsh allocpages 2MiB 512", "virsh allocpages --pagesize 2m 512"):
        assert check(q, answer).correct, answer
    assert not check(q, "virsh allocpages 2G 512").correct
    assert not check(q, "virsh allocpages 2M 512 --all").correct  # --all: 512 on every NUMA node


# -- options at their default value --------------------------------------------------------------

ATTACH = [
    "virsh attach-disk centos /var/lib/libvirt/images/data.qcow2 vdb --driver qemu --subdriver qcow2 --live --config"
]


@pytest.mark.parametrize(
    "answer",
    [
        "virsh attach-disk centos /var/lib/libvirt/images/data.qcow2 vdb --subdriver qcow2 --live --config",
        "virsh attach-disk centos /var/lib/libvirt/images/data.qcow2 vdb --driver qemu --subdriver qcow2 "
        "--targetbus virtio --live --config",
        "virsh attach-disk centos /var/lib/libvirt/images/data.qcow2 vdb --subdriver qcow2 --type disk --live --config",
    ],
)
def test_attach_disk_defaults_are_the_same_answer(answer: str) -> None:
    assert check_command(ATTACH, answer).correct, check_command(ATTACH, answer).feedback


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        ("virsh attach-disk centos /var/lib/libvirt/images/data.qcow2 vdb --live --config", "missing subdriver"),
        (
            "virsh attach-disk centos /var/lib/libvirt/images/data.qcow2 vdb --subdriver qcow2 --targetbus scsi "
            "--live --config",
            "targetbus scsi",
        ),
        (
            "virsh attach-disk centos /var/lib/libvirt/images/data.qcow2 vdb --subdriver qcow2 --type cdrom "
            "--live --config",
            "type cdrom",
        ),
    ],
)
def test_values_that_are_not_defaults_still_matter(answer: str, reason: str) -> None:
    verdict = check_command(ATTACH, answer)
    assert not verdict.correct and any(reason in f for f in verdict.feedback), verdict.feedback


def test_bus_is_derived_from_the_targets_prefix_only() -> None:
    hd = ["virsh attach-disk centos /var/lib/libvirt/images/a.img hdb --config"]
    assert check_command(
        hd, "virsh attach-disk centos /var/lib/libvirt/images/a.img hdb --targetbus ide --config"
    ).correct
    assert not check_command(
        hd, "virsh attach-disk centos /var/lib/libvirt/images/a.img hdb --targetbus sata --config"
    ).correct
    vd = ["virsh attach-disk centos /var/lib/libvirt/images/a.img vdb --config"]
    assert not check_command(
        vd, "virsh attach-disk centos /var/lib/libvirt/images/a.img vdb --targetbus ide --config"
    ).correct


def test_subdriver_raw_is_what_libvirt_writes_without_one() -> None:
    raw = ["virsh attach-disk centos /var/lib/libvirt/images/a.img vdb --live"]
    assert check_command(
        raw, "virsh attach-disk centos /var/lib/libvirt/images/a.img vdb --subdriver raw --live"
    ).correct


def test_qemu_img_defaults() -> None:
    assert check(_q("hotadd-disk-002"), "qemu-img create /var/lib/libvirt/images/test_add.img 10G").correct
    assert check(_q("hotadd-disk-002"), "qemu-img create -q -f raw /var/lib/libvirt/images/test_add.img 10G").correct
    assert not check(_q("hotadd-disk-002"), "qemu-img create -f qcow2 /var/lib/libvirt/images/test_add.img 10G").correct
    assert check(_q("qemu-kvm-011"), "qemu-img info --output=human /var/lib/libvirt/images/tianyun.qcow2").correct


def test_blockcommit_pivot_implies_active_and_wait_and_verbose_only_prints() -> None:
    q = _q("snapshots-008")
    assert check(q, "virsh blockcommit centos vdb --pivot").correct
    assert check(q, "virsh blockcommit centos vdb --active --wait --pivot --verbose").correct
    assert not check(q, "virsh blockcommit centos vdb --active --wait").correct  # never pivots


def test_every_equivalence_says_why() -> None:
    from kvmlab.quiz.equivalences import REDUNDANT

    assert len(REDUNDANT) >= 10
    for rule in REDUNDANT:
        assert len(rule.why) > 20, rule


# -- virsh's connection --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "correct"),
    [
        ("virsh list --all", True),  # root's default is qemu:///system
        ("virsh -c qemu:///system list --all", True),
        ("virsh --connect qemu:///system list --all", True),
        ("virsh --connect=qemu:///system list --all", True),
        ("virsh -q -c qemu:///system list --all", True),  # -q only quiets
        ("virsh -c qemu:///nowhere list --all", False),
        ("virsh -c qemu:///session list --all", False),
        ("virsh -c qemu:///system list", False),
        ("virsh -r -c qemu:///system list --all", False),  # a read-only connection is another command
    ],
)
def test_the_connection_is_part_of_the_meaning(answer: str, correct: bool) -> None:
    q = next(q for q in BANK.questions if q.type == "command" and "qemu:///system" in q.text.get("en", ""))
    assert q.topic == "libvirt-api"
    verdict = check(q, answer)
    assert verdict.correct == correct, verdict.feedback


def test_wrong_connection_is_named() -> None:
    verdict = check_command(["virsh list --all"], "virsh -c qemu:///nowhere list --all")
    assert "-c qemu:///nowhere is not part of the answer" in verdict.feedback
    assert "-r is not part of the answer" in check_command(["virsh list --all"], "virsh -r list --all").feedback


# -- the guest's state: --current, --persistent, no flag ------------------------------------------


def test_shut_off_guest_current_and_persistent_are_config() -> None:
    q = _q("windows-template-003")
    assert q.run == "guest-off"
    iso = "virsh attach-disk win2008 /var/lib/libvirt/images/virtio-win.iso hdb --type cdrom"
    for scope in ("--config", "--current", "--persistent"):
        assert check(q, f"{iso} {scope}").correct, scope
    assert check(q, f"{iso} --mode readonly --targetbus ide --driver qemu --subdriver raw --current").correct
    # No flag: virsh calls the old attach API, which only changes a running guest ("domain is not
    # running" here), and --live fails on a shut-off guest.
    assert not check(q, iso).correct
    assert not check(q, f"{iso} --live --config").correct


def test_running_guest_persistent_is_live_and_config() -> None:
    q = _q("hotadd-disk-003")
    line = "virsh attach-disk centos /var/lib/libvirt/images/data.qcow2 vdb --subdriver qcow2"
    assert check(q, f"{line} --persistent").correct
    assert not check(q, f"{line} --current").correct  # the running guest only
    assert not check(q, line).correct
    # Without a known state the flags compare as written: --persistent is not --live --config.
    assert not check_command([f"{line} --live --config"], f"{line} --persistent").correct


def test_running_guest_no_flag_and_current_are_live() -> None:
    q = _q("memory-virt-012")
    assert check(q, "virsh dommemstat centos --period 5 --current").correct
    assert not check(q, "virsh dommemstat centos --period 5 --config").correct


def test_shut_off_guest_no_flag_is_config_where_libvirt_says_current() -> None:
    q = _q("memory-005")
    assert check(q, "virsh setmaxmem centos 2048M").correct
    assert check(q, "virsh setmaxmem centos 2G --current").correct
    off = ["virsh setmem centos 512M --config"]
    assert not check_command(off, "virsh setmem centos 512M", "guest-off").correct  # setmem: the old API, live


# -- the valid forms of the reviewed questions ---------------------------------------------------


@pytest.mark.parametrize(
    ("qid", "answer"),
    [
        ("hotadd-disk-007", "virsh detach-disk centos vdb --persistent"),
        ("hotadd-disk-007", "virsh detach-disk centos /var/lib/libvirt/images/data.qcow2 --live --config"),
        ("hotadd-disk-007", "virsh detach-disk centos /var/lib/libvirt/images/data.qcow2 --persistent"),
        ("storage-internals-016", "virsh vol-resize vol1 2GiB --pool mypool"),
        ("storage-internals-016", "virsh vol-resize --vol vol1 --capacity 2048M --pool mypool"),
        ("storage-internals-016", "virsh vol-resize vol1 1G --pool mypool --delta"),
        (
            "linux-template-002",
            "qemu-img create -f qcow2 -o backing_file=/var/lib/libvirt/images/centos-base.qcow2,backing_fmt=qcow2 "
            "/var/lib/libvirt/images/web01.qcow2",
        ),
        (
            "linux-template-002",
            "qemu-img create -f qcow2 -o backing_fmt=qcow2 -o backing_file=/var/lib/libvirt/images/centos-base.qcow2 "
            "/var/lib/libvirt/images/web01.qcow2",
        ),
        (
            "linux-template-002",
            "qemu-img create -F qcow2 -b /var/lib/libvirt/images/centos-base.qcow2 -f qcow2 "
            "/var/lib/libvirt/images/web01.qcow2",
        ),
        ("memory-virt-009", "virsh allocpages --pagesize 2048KiB --pagecount 512"),
        (
            "snapshots-007",
            "virsh snapshot-create-as centos dbsnap --disk-only --atomic --quiesce --diskspec vda,snapshot=no",
        ),
        (
            "snapshots-007",
            "virsh snapshot-create-as centos dbsnap --disk-only --atomic --quiesce "
            "--diskspec vdb,snapshot=external --diskspec vda,snapshot=no",
        ),
        (
            "snapshots-007",
            "virsh snapshot-create-as centos dbsnap --disk-only --atomic --quiesce --diskspec vdb "
            "--diskspec vda,snapshot=no",
        ),
        (
            "snapshots-007",
            "virsh snapshot-create-as centos dbsnap --quiesce --disk-only --atomic "
            "--diskspec vdb,file=/var/lib/libvirt/images/dbsnap.qcow2,snapshot=external --diskspec vda,snapshot=no",
        ),
        ("snapshots-008", "virsh blockcommit centos vdb --active --pivot --shallow"),
        ("snapshots-008", "virsh blockcommit centos vdb --active --pivot --shallow --verbose"),
        ("snapshots-008", "virsh blockcommit centos vdb --base /var/lib/libvirt/images/base.img --active --pivot"),
        (
            "live-migration-006",
            "virsh migrate --live --persistent --undefinesource --copy-storage-all centos qemu+ssh://root@host2/system",
        ),
        (
            "live-migration-006",
            "virsh migrate centos qemu+ssh://host2/system --copy-storage-all --undefinesource --persistent --live "
            "--verbose",
        ),
    ],
)
def test_reviewed_questions_accept_their_valid_forms(qid: str, answer: str) -> None:
    verdict = check(_q(qid), answer)
    assert verdict.correct, verdict.feedback


@pytest.mark.parametrize(
    ("qid", "answer"),
    [
        ("hotadd-disk-007", "virsh detach-disk centos vdb --live"),
        ("storage-internals-016", "virsh vol-resize vol1 2G --pool mypool --delta"),  # 1G + 2G
        (
            "linux-template-002",
            "qemu-img create -f qcow2 -b /var/lib/libvirt/images/centos-base.qcow2 /var/lib/libvirt/images/web01.qcow2",
        ),
        ("snapshots-007", "virsh snapshot-create-as centos dbsnap --disk-only --atomic --quiesce"),  # vda too
        ("snapshots-007", "virsh snapshot-create-as centos dbsnap --disk-only --atomic --diskspec vda,snapshot=no"),
        ("snapshots-008", "virsh blockcommit centos vdb --active"),
        ("live-migration-006", "virsh migrate --live --persistent --undefinesource centos qemu+ssh://host2/system"),
    ],
)
def test_reviewed_questions_still_refuse_wrong_forms(qid: str, answer: str) -> None:
    assert not check(_q(qid), answer).correct
