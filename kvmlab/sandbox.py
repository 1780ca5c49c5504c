"""Making and removing owned objects. The only code in kvmlab that deletes anything.

Creation goes claim -> record (pending) -> create -> confirm; removal works
from the record alone, through the kind's own rule for what is still ours
(kvmlab.kinds), so a foreign object renamed to look like the trainee's is
left alone.
"""

from __future__ import annotations

from kvmlab.connection import Connection
from kvmlab.errors import NotOwned
from kvmlab.kinds import KINDS
from kvmlab.ownership import Owned, Ownership


def exists(connection: Connection, kind: str, name: str) -> bool:
    return KINDS[kind].exists(connection, name)


def claim(owners: Ownership, connection: Connection, kind: str, name: str, lab: str, state: str = "pending") -> Owned:
    """Reserve ``name`` for ``lab``: refuse if something not ours already has it."""
    uri = connection.uri if KINDS[kind].in_libvirt else None
    mine = owners.record.find(kind, name, uri)
    if mine is not None:
        if mine.lab != lab:
            raise NotOwned(
                f"{kind} {name} belongs to your lab {mine.lab}", f"finish that lab first: kvmlab lab finish {mine.lab}"
            )
        return mine
    if exists(connection, kind, name):
        raise NotOwned(
            f"a {kind} named {name} already exists and kvmlab did not make it for trainee {owners.trainee.name}",
            "kvmlab never touches what it does not own: pick another trainee name (--trainee NAME), "
            "or remove that object yourself if you are sure it is yours",
        )
    return owners.add(Owned(kind=kind, name=name, lab=lab, state=state, uri=uri))


def remove(connection: Connection, obj: Owned, trainee: str) -> str | None:
    """Remove one owned object. Returns a note when something was left on purpose."""
    return KINDS[obj.kind].remove(connection, obj, trainee)


def reconcile(owners: Ownership, connection: Connection) -> None:
    """After an interruption: pending objects that exist are ours, the rest are dropped."""
    for obj in list(owners.record.objects):
        if obj.state != "pending":
            continue
        kind = KINDS[obj.kind]
        if kind.in_libvirt and obj.uri != connection.uri:
            continue
        if kind.exists(connection, obj.name):
            owners.confirm(obj, kind.uuid(connection, obj.name))
        else:
            owners.drop(obj)
