"""A throw-away PostgreSQL cluster for tests and benchmarks: initdb + pg_ctl in a temporary
directory, listening on a loopback port and a unix socket there, stopped at the end.

initdb refuses to run as root, so as root the cluster runs as an unprivileged user
(`postgres` when the Debian package made it, else `nobody`) through runuser; the
directory is chowned to that user. No system service is involved.

    with PgCluster.start() as pg:        # raises PgUnavailable without the binaries
        url = pg.create_database("t1")   # postgresql://orch@127.0.0.1:PORT/t1, password
                                         # in pg.password (give it as PGPASSWORD)
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

SUPERUSER = "orch"


class PgUnavailable(Exception):
    """No PostgreSQL server binaries here (or no way to run them)."""


def bin_dir() -> Path | None:
    """The directory of initdb/pg_ctl/postgres (Debian keeps them off PATH)."""
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if (Path(candidate) / "initdb").exists() and (Path(candidate) / "postgres").exists():
            return Path(candidate)
    found = shutil.which("initdb")
    if found and (Path(found).resolve().parent / "postgres").exists():
        return Path(found).resolve().parent
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class PgCluster:
    root: Path
    bin: Path
    port: int
    password: str
    run_as: str | None  # None: ourselves

    @classmethod
    @contextlib.contextmanager
    def start(cls) -> Iterator[PgCluster]:
        binaries = bin_dir()
        if binaries is None:
            raise PgUnavailable("PostgreSQL server binaries not found (Debian package postgresql)")
        run_as = None
        if os.geteuid() == 0:
            run_as = next((u for u in ("postgres", "nobody") if _user_exists(u)), None)
            if run_as is None or shutil.which("runuser") is None:
                raise PgUnavailable("running as root without an unprivileged user or runuser")
        root = Path(tempfile.mkdtemp(prefix="orch-pg-"))
        os.chmod(root, 0o755)
        cluster = cls(root, binaries, _free_port(), secrets.token_hex(12), run_as)
        try:
            cluster._init_and_start()
            yield cluster
        finally:
            cluster._stop()
            shutil.rmtree(root, ignore_errors=True)

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def socket_dir(self) -> Path:
        return self.root / "sock"

    def url(self, dbname: str, *, password: bool = False) -> str:
        auth = f"{SUPERUSER}:{self.password}" if password else SUPERUSER
        return f"postgresql://{auth}@127.0.0.1:{self.port}/{dbname}"

    def env(self) -> dict[str, str]:
        """Environment for a client process: the password where libpq looks for it."""
        return {**os.environ, "PGPASSWORD": self.password}

    def create_database(self, name: str) -> str:
        self.psql(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def psql(self, sql: str, dbname: str = "postgres") -> str:
        out = subprocess.run(
            [
                str(self.bin / "psql"),
                "-X",
                "-q",
                "-A",
                "-t",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                str(self.socket_dir),
                "-p",
                str(self.port),
                "-U",
                SUPERUSER,
                "-d",
                dbname,
                "-c",
                sql,
            ],
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if out.returncode != 0:
            raise RuntimeError(f"psql {sql!r}: {out.stderr.strip()}")
        return out.stdout

    # ------------------------------------------------------------------ internals

    def _as_user(self, *argv: str) -> list[str]:
        return ["runuser", "-u", self.run_as, "--", *argv] if self.run_as else list(argv)

    def _init_and_start(self) -> None:
        self.data.mkdir(mode=0o700)
        self.socket_dir.mkdir()
        pwfile = self.root / "pw"
        pwfile.write_text(self.password + "\n")
        if self.run_as:
            info = pwd.getpwnam(self.run_as)
            for path in (self.data, self.socket_dir, pwfile):
                os.chown(path, info.pw_uid, info.pw_gid)
        env = {**os.environ, "LC_ALL": "C", "LANG": "C"}
        _run(
            self._as_user(
                str(self.bin / "initdb"),
                "-D",
                str(self.data),
                "-U",
                SUPERUSER,
                f"--pwfile={pwfile}",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ),
            env,
        )
        pwfile.unlink()
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={self.port} "
            f"-c unix_socket_directories={self.socket_dir} -c fsync=off "
            "-c max_connections=60 -c shared_buffers=32MB"
        )
        _run(
            self._as_user(
                str(self.bin / "pg_ctl"),
                "-D",
                str(self.data),
                "-o",
                options,
                "-l",
                str(self.data / "server.log"),
                "-w",
                "-t",
                "60",
                "start",
            ),
            env,
        )

    def _stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            subprocess.run(
                self._as_user(
                    str(self.bin / "pg_ctl"),
                    "-D",
                    str(self.data),
                    "-m",
                    "immediate",
                    "-w",
                    "-t",
                    "30",
                    "stop",
                ),
                capture_output=True,
                timeout=60,
                check=False,
            )


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def _run(argv: list[str], env: dict[str, str]) -> None:
    out = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120, check=False)
    if out.returncode != 0:
        raise PgUnavailable(
            f"{Path(argv[-1]).name if argv else ''} failed: "
            f"{(out.stderr or out.stdout).strip()[-500:]}"
        )
