"""The guest agent of a QEMU started by hand (no libvirt): its virtio-serial chardev socket.

libvirt speaks to qemu-guest-agent for its own guests; a hand-run QEMU
exposes the agent's channel as a plain unix socket (``-chardev
socket,path=...``). The protocol is JSON lines, like QMP, but without a
greeting, and the channel may still hold a half-read reply of an earlier
client: ``guest-sync-delimited`` with a fresh id (its answer preceded by a
0xFF byte) resynchronises before every command.
"""

from __future__ import annotations

import json
import secrets
import socket
from pathlib import Path
from typing import Any

from kvmlab.resources.agent import AgentUnavailable, GuestAgent


class SocketAgent(GuestAgent):
    """GuestAgent's questions (run, read, block_devices...) asked over the agent socket of a hand-run QEMU."""

    def __init__(self, path: str | Path) -> None:  # no libvirt domain behind it
        self.path = Path(path)

    @property
    def where(self) -> str:
        return f"the guest on {self.path}"

    def command(self, execute: str, arguments: dict[str, Any] | None = None, timeout: int = 10) -> Any:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        try:
            sock.connect(str(self.path))
            stream = sock.makefile("rwb")
            sync = secrets.randbelow(2**31 - 1) + 1
            stream.write(b"\xff" + json.dumps({"execute": "guest-sync-delimited", "arguments": {"id": sync}}).encode())
            stream.write(b"\n")
            stream.flush()
            while True:  # skip whatever an earlier client left unread, up to our own sync answer
                line = stream.readline()
                if not line:
                    raise AgentUnavailable(f"the agent socket {self.path} closed", "is the guest still running?")
                text = line.lstrip(b"\xff").strip()
                if text and json.loads(text).get("return") == sync:
                    break
            payload: dict[str, Any] = {"execute": execute}
            if arguments:
                payload["arguments"] = arguments
            stream.write(json.dumps(payload).encode() + b"\n")
            stream.flush()
            reply = json.loads(stream.readline() or b"{}")
        except (OSError, ValueError) as err:
            raise AgentUnavailable(
                f"the guest agent on {self.path} did not answer {execute}: {err}",
                "is that QEMU running with -chardev socket,path=...,server=on,wait=off and the guest booted?",
            ) from err
        finally:
            sock.close()
        if "error" in reply or "return" not in reply:
            desc = reply.get("error", {}).get("desc", "no answer")
            raise AgentUnavailable(f"the guest agent refused {execute}: {desc}", "see guest-info for what it supports")
        return reply["return"]
