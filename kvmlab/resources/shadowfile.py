"""/etc/shadow inside a guest's disk image, read offline and checked as login(1) checks it.

The file comes out of the image without booting or mounting it (qemu-img
convert + debugfs, kvmlab.resources.imagefs), with its inode change time:
set by the kernel that last wrote the file (the libguestfs appliance, or
the guest), it cannot be set with touch(1). The password check is the
host's crypt(3) (kvmlab.shadow): yescrypt, SHA-512, whatever libxcrypt knows.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from kvmlab import shadow
from kvmlab.resources.imagefs import image_files

SHADOW = "/etc/shadow"


@dataclass(frozen=True)
class ShadowFile:
    text: str | None  # None: the image has no /etc/shadow
    changed: float | None  # its inode change time (seconds since the epoch); None when there is no file

    def entry(self, user: str) -> shadow.ShadowEntry | None:
        return shadow.entry(self.text, user) if self.text is not None else None

    def accepts(self, user: str, password: str) -> bool:
        """Whether ``user`` could log in with ``password`` (locked and password-less accounts never match)."""
        found = self.entry(user)
        return found is not None and shadow.verify(password, found.hash)


class ImageShadow:
    def __init__(self, image: str | Path) -> None:
        self.image = Path(image)

    def read(self) -> ShadowFile:
        """The image's /etc/shadow and when it last changed; raises ImageUnreadable when the image cannot be read."""
        with image_files(self.image) as fs:
            times = fs.times(SHADOW)
            return ShadowFile(fs.read(SHADOW), times.ctime if times else None)
