"""Short answers: a stated misconception fails, negation is told apart, right answers pass.

Every short question in the bank proves its own rubric both ways: each of its
wrong answers (the seed's, and what trainees really write) is judged wrong
*because it states a misconception*, and its model answers and paraphrases are
judged right.
"""

from __future__ import annotations

import pytest

from kvmlab.quiz import bank as bankmod
from kvmlab.quiz.check import check
from kvmlab.quiz.short import clauses, judge, mentions

BANK = bankmod.load(bankmod.default_dir())
SHORT = [q for q in BANK.questions if q.type == "short"]


@pytest.mark.parametrize(
    ("text", "pattern", "asserted"),
    [
        (
            "Full virtualization needs VT-x; without it you get paravirtualization",
            "full virtualization + need + vt-x",
            True,
        ),
        (
            "Full virtualization does not need VT-x: binary translation works",
            "full virtualization + need + vt-x",
            False,
        ),
        ("VT-x is not needed for full virtualization", "full virtualization + need|require + vt-x", False),
        ("Full virtualization doesn't require VT-x", "full virtualization + need|require + vt-x", False),
        ("It is a myth that full virtualization needs VT-x", "full virtualization + need + vt-x", False),
        ("全虚拟化需要VT-x，没有VT-x就只能半虚拟化", "全虚拟化 + 需要 + vt-x", True),
        ("全虚拟化并不需要VT-x，二进制翻译也可以", "全虚拟化 + 需要 + vt-x", False),
        ("说全虚拟化需要VT-x是一种误解", "全虚拟化 + 需要 + vt-x", False),
        ("QEMU不能单独运行，必须依赖KVM", "qemu + 不能 + 单独", True),
        ("QEMU可以单独运行（TCG），不依赖KVM", "qemu + 不能 + 单独", False),
        ("QEMU cannot run alone", "qemu + cannot + alone|on its own", True),
        ("QEMU can't run on its own", "qemu + cannot + alone|on its own", True),
        ("QEMU can run on its own", "qemu + cannot + alone|on its own", False),
        # Inflection: stems, not whole words.
        ("the migration fails when the disk is not shared", "migration + fail", True),
        ("migrations failed", "migration + fail", True),
        # Word order: terms in any order within a clause, but not across clauses.
        ("VT-x is required by full virtualization", "full virtualization + require + vt-x", True),
        ("full virtualization came first. VT-x is required by KVM", "full virtualization + require + vt-x", False),
        # A negation after the claim does not deny it; a word that merely starts like one is no cue.
        ("QEMU uses TCG when there is no KVM", "tcg", True),
        ("不断地热插拔磁盘", "热插拔", True),
        ("两者非常不同：热插拔改运行中的虚拟机", "热插拔", True),
        # A negation reaches over "or" to the alternatives it joins.
        ("Don't disable SELinux or reboot the host blindly", "reboot + host", False),
        ("Reboot the host, or disable SELinux", "reboot + host", True),
        # A dot inside an address or a file name ends no clause; "while" (during) splits nothing.
        ("192.168.122.0/24 is free", "192.168.122 + free", True),
        ("Run virt-edit on the disk while the guest is running", "virt-edit + guest is running", True),
        # A negation inside a Chinese verb compound (看不到, 用不了).
        ("用 net-dumpxml 看不到哪些虚拟机连接在网络上", "连接 + 虚拟机 + 哪些", False),
        ("差不多所有虚拟机都连接在网络上", "连接 + 虚拟机", True),
        ("使用可热插拔的总线(virtio/scsi,ide 不行)", "ide + 热插拔", False),
        ("热插拔不需要重启", "热插拔", True),
        # Whole words: "live" is not inside "delivered".
        ("the package was delivered", "live", False),
    ],
)
def test_assertions_are_told_from_negations(text: str, pattern: str, asserted: bool) -> None:
    assert mentions(text, pattern) is asserted


def test_clauses_split_at_contrast() -> None:
    assert [c.text.strip() for c in clauses("needs no VT-x, but PV needs a changed kernel")] == [
        "needs no vt-x",
        "pv needs a changed kernel",
    ]


@pytest.mark.parametrize("q", SHORT, ids=[q.id for q in SHORT])
def test_every_wrong_answer_states_a_misconception(q: bankmod.Question) -> None:
    answers = [(lang, a) for lang in ("en", "zh") for a in q.wrong_answers.get(lang, [])]
    assert {lang for lang, _ in answers} == {"en", "zh"}, f"{q.id}: wrong answers in en and zh"
    for lang, answer in answers:
        j = judge(q.rubric, answer)
        assert j.asserted, f"{q.file}:{q.line} {q.id}: wrong answer not caught ({lang}): {answer}"
        assert not check(q, answer, lang).correct


@pytest.mark.parametrize("q", SHORT, ids=[q.id for q in SHORT])
def test_model_answers_and_paraphrases_are_right(q: bankmod.Question) -> None:
    answers = [("model " + lang, q.model_answer.get(lang, "")) for lang in ("en", "zh")]
    answers += [(f"paraphrase {lang}", a) for lang in ("en", "zh") for a in q.paraphrases.get(lang, [])]
    assert len(answers) >= 4, f"{q.id}: model answers and a paraphrase in each language"
    for what, answer in answers:
        j = judge(q.rubric, answer)
        assert not j.asserted, f"{q.file}:{q.line} {q.id}: {what} flagged as {[p.label_en for p in j.asserted]}"
        if q.grading == "rules":
            missed = [p.label_en for p in j.missed]
            assert j.right, f"{q.file}:{q.line} {q.id}: {what} judged wrong ({j.score:.0%}, missed {missed}): {answer}"


# The review's findings, in its own words: each passed the keyword rubric before.
REVIEW_WRONG = [
    (
        "virt-basics-002",
        "en",
        "Full virtualization needs VT-x or AMD-V hardware support; without it you get "
        "paravirtualization, where the guest is modified and uses hypercalls. Binary translation is old.",
    ),
    (
        "virt-basics-002",
        "zh",
        "全虚拟化需要 CPU 支持 VT-x 或 AMD-V，没有硬件支持就只能用半虚拟化，"
        "半虚拟化的客户机需要修改内核，通过超级调用与 hypervisor 通信。",
    ),
    (
        "qemu-kvm-001",
        "en",
        "KVM is a kernel module with hardware-assisted virtualization that manages the VMs, and it "
        "must depend on QEMU for device emulation in user space through /dev/kvm; QEMU cannot run alone.",
    ),
    (
        "vcpu-001",
        "en",
        "Check vcpucount, raise the maximum with --maximum --config and restart; then run "
        "virsh setvcpus centos 4 --live --persistent and online the new CPUs in the guest.",
    ),
    (
        "dumpxml-001",
        "en",
        "dumpxml prints the persistent XML, not the running one; it is read only and you can "
        "redirect it to a file to back up the domain and define it again.",
    ),
]


@pytest.mark.parametrize(("qid", "lang", "answer"), REVIEW_WRONG, ids=[f"{q}-{lang}" for q, lang, _ in REVIEW_WRONG])
def test_review_misconceptions_fail(qid: str, lang: str, answer: str) -> None:
    q = BANK.get(qid)
    assert q is not None
    verdict = check(q, answer, lang)
    assert not verdict.correct, verdict
    assert any("misconception" in line for line in verdict.feedback), verdict.feedback


def test_a_correct_paraphrase_of_post_copy_passes() -> None:
    q = BANK.get("live-migration-004")
    assert q is not None
    answer = (
        "With post-copy the VM starts running on the target host before its memory has been copied. "
        "Pages it touches are pulled across the network when it faults on them, so the migration always "
        "completes, but the guest runs slower meanwhile, and if the source host or the link dies midway the VM is lost."
    )
    verdict = check(q, answer, "en")
    assert verdict.correct, verdict
