"""A migration's pre-copy rounds, plotted from its ``query-migrate`` replies.

Each reply is a sample: how long the migration has run (``total-time``), the
RAM still to send (``ram.remaining``), what has been sent
(``ram.transferred``), how fast the guest dirties pages
(``ram.dirty-pages-rate`` x ``ram.page-size``) and which pass over memory
this is (``ram.dirty-sync-count``: each sync of the dirty bitmap starts a
round). Pre-copy converges when ``remaining`` falls faster than the guest
dirties it; post-copy moves the rest on demand.

The lab's source QEMU traces every reply (kvmlab.resources.migration): the
samples of a migration are ``Attempt.samples``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

from kvmlab.errors import UsageError
from kvmlab.pictures import MIB, Plot, new_figure
from kvmlab.resources.migration import Attempt, MigrationTrace


@dataclass(frozen=True)
class Sample:
    seconds: float  # since migrate was issued
    status: str
    remaining_mib: float
    transferred_mib: float
    dirty_mib_s: float
    round: int  # dirty-sync-count


def samples_of(replies: Sequence[Mapping[str, Any]]) -> list[Sample]:
    """The replies that carry RAM figures (``setup`` has none), as samples; a repeated final reply counted once."""
    samples: list[Sample] = []
    for reply in replies:
        ram = reply.get("ram")
        if not isinstance(ram, Mapping) or "total-time" not in reply:
            continue
        page = int(ram.get("page-size", 4096))
        sample = Sample(
            seconds=int(reply["total-time"]) / 1000,
            status=str(reply.get("status", "")),
            remaining_mib=int(ram.get("remaining", 0)) / MIB,
            transferred_mib=int(ram.get("transferred", 0)) / MIB,
            dirty_mib_s=int(ram.get("dirty-pages-rate", 0)) * page / MIB,
            round=int(ram.get("dirty-sync-count", 0)),
        )
        if not samples or samples[-1] != sample:
            samples.append(sample)
    return samples


def last_attempt(trace: str | Path) -> Attempt:
    """The last migration in a QEMU's trace file, with its query-migrate replies (``samples``)."""
    attempt = MigrationTrace(trace).last()
    if attempt is None:
        raise UsageError(f"no migration in {trace}", "migrate first, with query-migrate while it runs")
    return attempt


def plot_migration(replies: Sequence[Mapping[str, Any]] | Attempt, title: str | None = None) -> Plot:
    """Remaining and transferred RAM (top), dirty rate per sample (bottom), against seconds since migrate."""
    if isinstance(replies, Attempt):
        title = title or f"migration to {replies.uri}: {replies.final_state}"
        replies = replies.samples
    samples = samples_of(replies)
    if not samples:
        raise UsageError(
            "no query-migrate reply with RAM figures among these samples",
            "query-migrate while the migration is active (the setup reply has none)",
        )
    seconds = [s.seconds for s in samples]
    figure = new_figure(8.0, 5.5)
    memory, dirty = figure.subplots(2, 1, sharex=True, height_ratios=(3, 2))
    memory.plot(seconds, [s.remaining_mib for s in samples], marker="o", label="remaining")
    memory.plot(seconds, [s.transferred_mib for s in samples], marker=".", linestyle="--", label="transferred")
    memory.set_ylabel("RAM (MiB)")
    memory.grid(alpha=0.3)
    memory.legend(loc="best")
    for before, after in pairwise(samples):
        if after.round != before.round:
            memory.axvline(after.seconds, color="grey", alpha=0.4, linewidth=1)
            memory.text(after.seconds, 0.98, f" round {after.round}", transform=memory.get_xaxis_transform(), va="top")
        if after.status != before.status:
            where = (after.seconds, after.remaining_mib)
            memory.annotate(after.status, where, xytext=(5, 8), textcoords="offset points")
    width = min((b - a for a, b in pairwise(seconds) if b > a), default=1.0) * 0.6
    dirty.bar(seconds, [s.dirty_mib_s for s in samples], width=width, color="tab:red", label="dirty rate")
    dirty.set_ylabel("dirty rate (MiB/s)")
    dirty.set_ylim(bottom=0)
    dirty.set_xlabel("seconds since migrate")
    dirty.grid(alpha=0.3)
    memory.set_title(title or f"pre-copy: {len(samples)} samples, {samples[-1].status} after {seconds[-1]:.1f} s")
    return Plot(figure)
