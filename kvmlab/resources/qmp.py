"""A QEMU's QMP socket as a host fact: does it answer, what does it say.

QMP is line-delimited JSON over a socket: QEMU greets first, the client must
send ``qmp_capabilities`` before any command, and asynchronous events may
arrive between a command and its reply. That is the whole protocol graders
need, so it is spoken here with a plain socket, no QEMU library.
"""

from __future__ import annotations

import json
import socket
import stat
import struct
from pathlib import Path
from typing import Any

from kvmlab.errors import KvmlabError


class QmpUnavailable(KvmlabError):
    pass


class QmpSocket:
    def __init__(self, path: str | Path, timeout: float = 5.0) -> None:
        self.path = Path(path)
        self.timeout = timeout

    @property
    def exists(self) -> bool:
        try:
            return stat.S_ISSOCK(self.path.lstat().st_mode)
        except OSError:
            return False

    def session(self) -> QmpSession:
        """Connect, read the greeting and negotiate capabilities."""
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(str(self.path))
        except OSError as err:
            sock.close()
            raise QmpUnavailable(
                f"nothing answers on the QMP socket {self.path}: {err.strerror or err}",
                "start QEMU with -qmp unix:PATH,server=on,wait=off",
            ) from err
        qmp = QmpSession(sock)
        try:
            qmp.greeting = qmp.receive()
            qmp.execute("qmp_capabilities")
        except BaseException:
            qmp.close()
            raise
        return qmp


class QmpSession:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.reader = sock.makefile("rb")
        self.greeting: dict[str, Any] = {}

    def __enter__(self) -> QmpSession:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.reader.close()
        self.sock.close()

    @property
    def peer_pid(self) -> int:
        """The PID of the process serving the socket (SO_PEERCRED): who really answers."""
        creds = self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        pid, _uid, _gid = struct.unpack("3i", creds)
        return int(pid)

    def receive(self) -> dict[str, Any]:
        try:
            line = self.reader.readline()
        except OSError as err:
            raise QmpUnavailable(f"the QMP socket went quiet: {err}", "is QEMU still running?") from err
        if not line:
            raise QmpUnavailable("QEMU closed the QMP connection", "is QEMU still running?")
        try:
            message: dict[str, Any] = json.loads(line)
        except ValueError as err:
            raise QmpUnavailable(
                f"the socket answered something that is not QMP: {line[:80]!r}", "is it a QMP socket?"
            ) from err
        return message

    def execute(self, command: str, arguments: dict[str, Any] | None = None) -> Any:
        """Send one command and return its ``return`` value; events that arrive first are skipped."""
        request: dict[str, Any] = {"execute": command}
        if arguments:
            request["arguments"] = arguments
        try:
            self.sock.sendall(json.dumps(request).encode() + b"\n")
        except OSError as err:
            raise QmpUnavailable(f"cannot send {command} to QEMU: {err}", "is QEMU still running?") from err
        while True:
            reply = self.receive()
            if "return" in reply:
                return reply["return"]
            if "error" in reply:
                refused = reply["error"]
                raise QmpUnavailable(
                    f"QEMU refused {command}: {refused.get('class')}: {refused.get('desc')}", "see `query-commands`"
                )
