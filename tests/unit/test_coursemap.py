"""The course map: every lab's data, a trainee's progress, the quiz's due reviews and weak spots, the class map."""

from __future__ import annotations

import json
import re
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from kvmlab import coursemap, journal
from kvmlab.classroom.gradebook import Gradebook
from kvmlab.connection import Connection
from kvmlab.coursemap_data import COURSE
from kvmlab.grading import Report, check
from kvmlab.labs import registry
from kvmlab.ownership import Ownership
from kvmlab.quiz.check import Verdict
from kvmlab.quiz.store import Store
from kvmlab.session import LabSession
from kvmlab.trainee import Trainee
from tests.helpers import REPO, kvmlab_in_process, private_test_host

NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
ZED = Trainee("zed")
_HAN = re.compile(r"[\u4e00-\u9fff]")


# -- the table ---------------------------------------------------------------------------------


def test_every_registered_lab_has_course_data() -> None:
    """A new lab without objectives, estimate and prerequisites fails here."""
    assert set(COURSE) == set(registry.lab_ids())
    for lab_id, data in COURSE.items():
        assert 2 <= len(data.objectives) <= 3 and len(data.objectives_zh) == len(data.objectives), lab_id
        assert all(_HAN.search(line) for line in data.objectives_zh), lab_id
        assert all(len(line) <= 80 for line in data.objectives), f"{lab_id}: an objective is a short line"
        assert data.minutes > 0 and data.minutes % 5 == 0, lab_id


def test_course_order_is_the_notebooks_order_and_prerequisites_come_first() -> None:
    numbered = sorted((registry.get(i).notebook, i) for i in COURSE)
    assert list(COURSE) == [i for _nb, i in numbered]
    seen: set[str] = set()
    for lab_id, data in COURSE.items():
        assert set(data.prerequisites) <= seen, f"{lab_id} needs a lab that comes later: {data.prerequisites}"
        seen.add(lab_id)


@pytest.mark.parametrize("lab_id", list(COURSE))
def test_each_estimate_stays_in_the_band_of_its_formula(lab_id: str) -> None:
    """reading at 150 words a minute + 8 to 12 minutes a step (+5 for waits), rounded to 5: see coursemap_data."""
    lab = registry.get(lab_id)
    cells = json.loads((REPO / lab.notebook).read_text())["cells"]
    words = sum(len("".join(c["source"]).split()) for c in cells if c["cell_type"] == "markdown")
    steps = len([s for s in lab.steps() if s.number]) or 1
    low, high = words / 150 + 8 * steps - 2.5, words / 150 + 12 * steps + 5 + 2.5
    assert low <= COURSE[lab_id].minutes <= high, (lab_id, words, steps, COURSE[lab_id].minutes)


# -- one trainee ---------------------------------------------------------------------------------


def test_the_map_of_a_fresh_trainee(test_host: Connection) -> None:
    cm = coursemap.course_map(ZED, test_host, now=NOW)
    assert [e.id for e in cm.labs] == list(COURSE)
    assert {e.state for e in cm.labs} == {coursemap.NOT_STARTED}
    assert all(e.minutes > 0 and e.objectives and e.steps >= 1 for e in cm.labs)
    nic = next(e for e in cm.labs if e.id == "hotadd-nic")
    assert [(p.lab, p.done) for p in nic.prerequisites] == [("hotadd-disk", False), ("networks", False)]
    assert cm.next_lab == "virt-basics" and cm.minutes_left == sum(d.minutes for d in COURSE.values())
    assert cm.reviews_due == 0 and cm.weakest_topics == [] and cm.weak_labs == []
    assert not Store.of_trainee("zed").path.exists()  # reading the map creates no quiz store


def _start_hotadd_disk(test_host: Connection) -> LabSession:
    """hotadd-disk marked as started on the test driver (no guest boots), and step 1 done with qemu-img."""
    session = LabSession(registry.get("hotadd-disk"), ZED, test_host)
    with Ownership(ZED).locked() as owners:
        owners.lab_started("hotadd-disk", test_host.uri)
    p = session.params
    Path(p.image).parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["qemu-img", "create", "-q", "-f", p.format, p.image, f"{p.size_gib}G"], check=True)
    return session


def test_a_started_lab_shows_steps_done_and_hints(test_host: Connection) -> None:
    _start_hotadd_disk(test_host)
    journal.Journal("zed", "hotadd-disk").revealed(2, 1)
    cm = coursemap.course_map(ZED, test_host, now=NOW)
    disk = next(e for e in cm.labs if e.id == "hotadd-disk")
    assert (disk.state, disk.done, disk.steps, disk.hints_used) == (coursemap.IN_PROGRESS, 1, 2, {2: 1})
    assert coursemap.status_text(disk, "en") == "1 of 2 steps done · hints read: 2:1"
    assert coursemap.status_text(disk, "zh") == "已完成 1/2 步 · 看过的提示：2:1"
    others = [e for e in cm.labs if e.id != "hotadd-disk"]
    assert all(e.state == coursemap.NOT_STARTED and e.done is None for e in others)  # never graded


def test_a_lab_passed_then_finished_stays_passed_and_counts_as_a_prerequisite(test_host: Connection) -> None:
    record = journal.Journal("zed", "hotadd-disk")
    record.checked("run1", passed=True, done=2, steps=2, by_solve=False)
    journal.Journal("zed", "vcpu").checked("run2", passed=True, done=3, steps=3, by_solve=True)  # lab solve's
    cm = coursemap.course_map(ZED, test_host, now=NOW)
    states = {e.id: e.state for e in cm.labs}
    assert states["hotadd-disk"] == coursemap.FINISHED and states["vcpu"] == coursemap.NOT_STARTED
    nic = next(e for e in cm.labs if e.id == "hotadd-nic")
    assert [(p.lab, p.done) for p in nic.prerequisites] == [("hotadd-disk", True), ("networks", False)]
    record.checked("run3", passed=False, done=1, steps=2, by_solve=False)  # started again, failed, finished
    again = coursemap.course_map(ZED, test_host, now=NOW)
    assert next(e for e in again.labs if e.id == "hotadd-disk").state == coursemap.NOT_STARTED
    assert again.weak_labs == ["hotadd-disk"]


def test_quiz_reviews_due_and_weakest_topics_from_a_real_store(test_host: Connection) -> None:
    store = Store.of_trainee("zed")
    store.record("hotadd-disk-001", Verdict(False, 0.0), "virsh attach-disk", now=NOW)
    for qid in ("hotadd-disk-002", "vcpu-001", "vcpu-002"):  # right twice: out of FSRS's learning steps
        store.record(qid, Verdict(True, 1.0), "right", now=NOW)
        store.record(qid, Verdict(True, 1.0), "right", now=NOW + timedelta(minutes=20))
    store.record("security-001", Verdict(False, 0.0), "x", now=NOW)
    store.record("security-001", Verdict(False, 0.2), "y", now=NOW + timedelta(minutes=1))
    later = NOW + timedelta(hours=2)
    cm = coursemap.course_map(ZED, test_host, store=store, now=later)
    # the two wrong ones come back within hours; the right ones in days
    assert cm.due_by_topic == {"hotadd-disk": 1, "security": 1} and cm.reviews_due == 2
    assert [(t.topic, t.right, t.answered) for t in cm.weakest_topics] == [("security", 0, 2), ("hotadd-disk", 2, 3)]
    store.lab_failed("vcpu", now=later)  # a failed check of the vcpu lab brings its questions back now
    assert coursemap.course_map(ZED, test_host, store=store, now=later).due_by_topic["vcpu"] == 2


def test_weakest_topics_count_recent_answers_only() -> None:
    answers = [("vcpu-001", f"t{n:02}", n >= 5) for n in range(15)]  # 5 wrong, then 10 right
    assert coursemap.weakest_topics(answers) == []  # the last 10 are right: fixed since
    assert coursemap.weakest_topics(answers, recent=12) == [coursemap.TopicScore("vcpu", 10, 12)]


def test_status_json_through_the_cli(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KVMLAB_URI", private_test_host())
    journal.Journal("zed", "networks").checked("r", passed=True, done=2, steps=2, by_solve=False)
    proc = kvmlab_in_process("status", "--trainee", "zed", "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["trainee"] == "zed" and [lab["id"] for lab in data["labs"]] == list(COURSE)
    networks = next(lab for lab in data["labs"] if lab["id"] == "networks")
    assert networks["state"] == "finished" and networks["status"] == "passed (finished)"
    assert data["next"] == "virt-basics" and data["quiz"]["reviews_due"] == 0
    assert data["minutes_left"] == sum(d.minutes for d in COURSE.values()) - COURSE["networks"].minutes


def test_the_zh_map_is_in_chinese(test_host: Connection, monkeypatch: pytest.MonkeyPatch) -> None:
    page = coursemap.to_html(coursemap.course_map(ZED, test_host, lang="zh"))
    assert "zed 的课程地图" in page and "未开始" in page and "学习目标" in page
    assert COURSE["hotadd-disk"].objectives_zh[0] in page and COURSE["hotadd-disk"].objectives[0] not in page
    assert "not started" not in page
    english = coursemap.to_html(coursemap.course_map(ZED, test_host, lang="en"))
    assert "not started" in english and "未开始" not in english
    monkeypatch.setenv("KVMLAB_URI", private_test_host())
    monkeypatch.setenv("COLUMNS", "200")
    terminal = kvmlab_in_process("status", "--trainee", "zed", "--lang", "zh")
    assert terminal.returncode == 0 and "未开始" in terminal.stdout and "现在该复习的题：0 道" in terminal.stdout


# -- the class ---------------------------------------------------------------------------------


def _graded(lab: str, trainee: str, step_results: list[bool], started: bool = True) -> Report:
    rep = Report(lab, trainee, step_titles={n: f"step {n}" for n in range(1, len(step_results) + 1)})
    if not started:
        rep.checks = [check("lab-started", "the lab has been started", False)]
        return rep
    for n, ok in enumerate(step_results, 1):
        row = check(f"c{n}", f"check {n}", ok)
        row.step = n
        rep.checks.append(row)
    return rep


def test_the_class_map_from_the_gradebook(kvmlab_home: Path) -> None:
    book = Gradebook()
    book.record("c1", "qemu:///system", _graded("hotadd-disk", "ann", [True, False]))
    book.record("c1", "qemu:///system", _graded("hotadd-disk", "ann", [True, True]))  # her latest attempt counts
    book.record("c1", "qemu:///system", _graded("hotadd-disk", "ben", [True, False]))
    book.record("c1", "qemu:///system", _graded("vcpu", "ben", [False] * 3, started=False))
    book.record("c2", "qemu:///system", _graded("memory", "cat", [True, True, True]))  # another class
    cm = coursemap.class_map("c1", book)
    assert cm.trainees == ["ann", "ben"] and cm.labs == ["hotadd-disk", "vcpu"]
    assert cm.cells["ann"]["hotadd-disk"].state == coursemap.PASSED and "vcpu" not in cm.cells["ann"]
    assert (cm.cells["ben"]["hotadd-disk"].state, cm.cells["ben"]["hotadd-disk"].done) == (coursemap.IN_PROGRESS, 1)
    assert cm.cells["ben"]["vcpu"].state == coursemap.NOT_STARTED
    page = coursemap.class_html(cm, "en")
    assert page.count("<tr") == 3 and "1/2" in page and "passed" in page and "—" in page
    assert "已通过" in coursemap.class_html(cm, "zh")
    proc = kvmlab_in_process("class", "map", "c1", "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["trainees"]["ben"]["hotadd-disk"]["done"] == 1 and data["labs"] == ["hotadd-disk", "vcpu"]
    assert "no graded attempts in class c3" in kvmlab_in_process("class", "map", "c3").stdout
