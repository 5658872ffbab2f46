"""One lock per device in the data directory, so two orch runs never interleave on it.

    locks/<host>.lock     flock(2): exclusive while a push changes the device,
                          shared while a verify reads it

The kernel drops the lock when its holder exits, however it exits (kill -9 included):
a stale lock file is harmless. The file holds the holder's pid and what it does, so
the one who waits or gives up is told who is in the way.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from orchestrator.errors import DeviceError


class DeviceBusy(DeviceError):
    """Another orch run holds the device's lock past the time we wait for it."""


def lock_path(directory: Path, host: str) -> Path:
    return directory / (re.sub(r"[^\w.-]", "_", host) + ".lock")


@contextlib.contextmanager
def device_lock(
    directory: Path,
    host: str,
    *,
    what: str,
    exclusive: bool = True,
    wait_s: float = 0.0,
    give_up: Callable[[], bool] = lambda: False,
) -> Iterator[None]:
    """Hold the device's lock for the block; DeviceBusy after `wait_s` of waiting (or as
    soon as `give_up()` says so, e.g. when the run is being stopped).

    A lock directory that cannot be written does not stop a run that only reads
    (verify): it then goes on unlocked. A push needs the lock."""
    path = lock_path(directory, host)
    try:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        if not exclusive:
            yield
            return
        raise DeviceError(
            f"{host}: cannot lock the device ({path}: {exc.strerror}); nothing was changed"
        ) from None
    try:
        _acquire(fd, path, host, exclusive=exclusive, wait_s=wait_s, give_up=give_up)
        if exclusive:
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()} {what}\n".encode())
        yield
    finally:
        os.close(fd)  # releases the lock


def _acquire(
    fd: int, path: Path, host: str, *, exclusive: bool, wait_s: float, give_up: Callable[[], bool]
) -> None:
    mode = (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB
    deadline = time.monotonic() + wait_s
    while True:
        try:
            fcntl.flock(fd, mode)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline or give_up():
                break
            time.sleep(0.1)
    holder = _holder(path)
    raise DeviceBusy(
        f"{host}: another orch run{holder} holds this device; "
        f"waited {wait_s:g} s; nothing was done (try again when it has finished)"
    )


def _holder(path: Path) -> str:
    try:
        text = path.read_text(encoding="utf-8").split()
    except OSError:
        return ""
    if len(text) >= 2 and text[0].isdigit():
        return f" (pid {text[0]}, {' '.join(text[1:])})"
    return ""
