"""The test command on a machine without PostgreSQL, run by an unprivileged user.

``scripts/test-services`` runs one small test (on SQLite and PostgreSQL) with
PostgreSQL's programs hidden from PATH, in a network namespace of its own (so nothing
answers on 127.0.0.1:5432), once as root and once as ``nobody``. It must start its
throwaway server, pass, and leave no trace. Both need root to set up: the namespace and
the switch to ``nobody``.
"""

from __future__ import annotations

import glob
import os
import pwd
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SMALL_TEST = "tests/bot/test_outbox.py"
# One test of that file, on both stores: the command and its PostgreSQL are what is
# tested here, and each of the file's tests more costs the two runs its time.
SMALL_TEST_NODE = f"{SMALL_TEST}::test_rows_claimed_but_not_started_are_sent_once_after_a_crash"

# Brings up the loopback interface of a new network namespace (it starts down), then
# becomes the command in argv; Python's ioctl spares a dependency on iproute2.
LOOPBACK_UP = """
import fcntl, os, socket, struct, sys
with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
    name = struct.pack("16sh", b"lo", 0)
    flags = struct.unpack("16sh", fcntl.ioctl(s, 0x8913, name))[1]  # SIOCGIFFLAGS
    fcntl.ioctl(s, 0x8914, struct.pack("16sh", b"lo", flags | 1))  # SIOCSIFFLAGS, IFF_UP
os.execvp(sys.argv[1], sys.argv[1:])
"""

pytestmark = [
    pytest.mark.timeout(300),
    pytest.mark.skipif(
        os.geteuid() != 0 or shutil.which("unshare") is None or shutil.which("setpriv") is None,
        reason="needs root, unshare and setpriv to hide port 5432 and switch to nobody",
    ),
]


POSTGRES_PROGRAMS = {Path(p).name for p in glob.glob("/usr/lib/postgresql/*/bin/*")}


def is_postgres_program(name: str) -> bool:
    return name in POSTGRES_PROGRAMS or name.startswith("pg_") or name in {"postgres", "psql"}


@pytest.fixture
def scratch() -> Iterator[Path]:
    """A folder nobody can read too (tmp_path is root's alone)."""
    path = Path(tempfile.mkdtemp(prefix="engage-setup-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path)


@pytest.fixture
def path_without_postgres(scratch: Path) -> str:
    """A PATH with every program of the current one except PostgreSQL's."""
    bin_dir = scratch / "bin"
    bin_dir.mkdir()
    for directory in os.environ["PATH"].split(os.pathsep):
        for program in sorted(Path(directory).glob("*")) if Path(directory).is_dir() else []:
            link = bin_dir / program.name
            if not is_postgres_program(program.name) and not link.exists():
                link.symlink_to(program)
    assert shutil.which("pg_ctl", path=str(bin_dir)) is None
    return str(bin_dir)


def as_nobody() -> list[str]:
    """Checks and runs as nobody happen inside a network namespace too: on some machines
    what nobody may read differs there."""
    user = pwd.getpwnam("nobody")
    switch = ["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--clear-groups"]
    return ["unshare", "--net", "--", *switch]


def can_run(prefix: list[str], *command: str) -> bool:
    """Run through bash, as the script runs it: bash checks access to every folder on the
    way, where a direct exec may get through."""
    script = 'test -x "$0" && "$0" "$@"'
    return (
        subprocess.run([*prefix, "bash", "-c", script, *command], capture_output=True).returncode
        == 0
    )


def python_for_nobody(scratch: Path) -> str:
    """An interpreter nobody can run, with this virtualenv's packages.

    The virtualenv's own interpreter may sit where nobody can't go (under /root): then a
    virtualenv of nobody's own, on a system interpreter of the same version, reads the
    packages of this one.
    """
    if can_run(as_nobody(), sys.executable, "-c", "import asyncpg, pytest"):
        return sys.executable
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    for base in (f"/usr/bin/{version}", f"/usr/local/bin/{version}"):
        if Path(base).exists() and can_run(as_nobody(), base, "-c", ""):
            venv = scratch / "venv"
            subprocess.run([base, "-m", "venv", "--without-pip", str(venv)], check=True)
            (site,) = venv.glob("lib/python*/site-packages")
            packages = sysconfig.get_paths()["purelib"]
            (site / "engage-test.pth").write_text(f"import site; site.addsitedir({packages!r})\n")
            subprocess.run(["chmod", "-R", "a+rX", str(venv)], check=True)
            return str(venv / "bin" / "python")
    pytest.skip(f"no {version} that nobody can run")


@pytest.mark.parametrize("user", ["root", "nobody"])
def test_the_suite_brings_its_own_postgresql(
    user: str, scratch: Path, path_without_postgres: str
) -> None:
    prefix = as_nobody() if user == "nobody" else []
    if not can_run(prefix, "/usr/bin/test", "-r", str(ROOT / SMALL_TEST)):
        pytest.skip(f"{user} can't read {ROOT}")
    python = python_for_nobody(scratch) if user == "nobody" else sys.executable
    home = scratch / "home"
    home.mkdir()
    shutil.chown(home, user)
    environment = {
        "PATH": path_without_postgres,
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
        "VENV_PYTHON": python,
        # A checkout the user may not write to: hypothesis keeps its files in their home.
        "HYPOTHESIS_STORAGE_DIRECTORY": str(home / "hypothesis"),
    }
    command = [
        *(["env", "-i", *(f"{k}={v}" for k, v in environment.items())]),
        *prefix[3:],  # the namespace is made below, for both users
        "scripts/test-services",
        *(python, "-m", "pytest", "-v", "-p", "no:cacheprovider"),
        *("--basetemp", str(home / "pytest"), SMALL_TEST_NODE),
    ]
    done = subprocess.run(
        ["unshare", "--net", "--", sys.executable, "-c", LOOPBACK_UP, *command],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    started = re.search(r"started a throwaway PostgreSQL \S+ on 127\.0\.0\.1:\d+ in (\S+)", output)
    assert started, output
    assert re.search(r"\[sqlite\] PASSED", output), output
    assert re.search(r"\[postgresql\] PASSED", output), output
    assert "removed the throwaway PostgreSQL" in output
    assert not Path(started.group(1)).exists()
