"""Apache CouchDB 3 nodes and clusters on loopback, for tests, CI and benchmarks.

A thin wrapper over the ``couchdb`` launcher script that sits beside the clone in
``../shared/couchdb/`` (``COUCHDB_SCRIPT`` names another): it starts a single node or a
3-node cluster in seconds and prints ``COUCHDB_URL=...`` lines. A user's machine has no
such script, so nothing in ``make run`` depends on it; the tests that need a second real
server (backups) or a cluster (``tests/cluster``) skip with the reason when it is absent.

    python -m devstack.couchdb3 start DIR PORT      # prints COUCHDB_URL=...
    python -m devstack.couchdb3 cluster DIR PORT    # 3 nodes on PORT, PORT+10, PORT+20
    python -m devstack.couchdb3 stop DIR
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SCRIPT = PROJECT_ROOT.parent / "shared" / "couchdb" / "couchdb"


def launcher() -> Path | None:
    """The CouchDB 3 launcher script, or None when this machine has none."""
    script = Path(os.environ.get("COUCHDB_SCRIPT") or DEFAULT_SCRIPT)
    return script if script.is_file() and os.access(script, os.X_OK) else None


def _run(*args: str) -> dict[str, str]:
    """Run the launcher; returns the ``NAME=value`` lines it printed. Raises
    ``RuntimeError`` with its error output when it fails or is missing."""
    script = launcher()
    if script is None:
        raise RuntimeError("no CouchDB 3 launcher (set COUCHDB_SCRIPT or put ../shared/couchdb beside the clone)")
    done = subprocess.run([str(script), *args], capture_output=True, text=True, timeout=300, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"couchdb {' '.join(args)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)


@dataclass
class CouchDBNode:
    """One CouchDB 3 node in ``dir`` on ``port`` (admin ``admin`` with a random password)."""

    dir: Path
    port: int
    password: str = field(default_factory=lambda: secrets.token_hex(12))

    @property
    def url(self) -> str:
        return f"http://admin:{self.password}@127.0.0.1:{self.port}"

    @property
    def password_file(self) -> Path:
        return self.dir / "admin-password"

    def start(self) -> CouchDBNode:
        """Start the node (a restart reuses the config and data already in ``dir``)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        for attempt in range(3):
            try:
                if (self.dir / "local.ini").exists():
                    # CouchDB hashed the admin password into local.ini on the first start:
                    # the one we chose then is only known from the file kept beside it.
                    if self.password_file.exists():
                        self.password = self.password_file.read_text().strip()
                    _run("start", "--dir", str(self.dir))
                else:
                    self.password_file.write_text(self.password + "\n")
                    self.password_file.chmod(0o600)
                    _run("start", "--dir", str(self.dir), "--port", str(self.port),
                         "--admin", f"admin:{self.password}")
                return self
            except RuntimeError as error:
                # A node just up now and then answers 500 to the launcher's creation of
                # _replicator (seen once in CI); the launcher leaves it running. Stop and
                # start it again rather than fail a whole test leg on it.
                if "failed with HTTP 5" not in str(error) or attempt == 2:
                    raise
                _run("stop", "--dir", str(self.dir))
                time.sleep(1)
        return self

    def stop(self) -> None:
        _run("stop", "--dir", str(self.dir))

    def __enter__(self) -> CouchDBNode:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@dataclass
class CouchDBCluster:
    """A cluster of ``nodes`` CouchDB 3 nodes in ``dir``/node1.. on ``port``, ``port``+10, ..."""

    dir: Path
    port: int
    nodes: int = 3
    password: str = field(default_factory=lambda: secrets.token_hex(12))

    def node(self, index: int) -> CouchDBNode:
        """Node ``index`` (1-based), for stopping and starting it alone."""
        return CouchDBNode(self.dir / f"node{index}", self.port + 10 * (index - 1), self.password)

    def node_urls(self) -> list[str]:
        return [self.node(i).url for i in range(1, self.nodes + 1)]

    @property
    def url(self) -> str:
        return self.node(1).url

    def start(self) -> CouchDBCluster:
        self.dir.mkdir(parents=True, exist_ok=True)
        _run("cluster", "--dir", str(self.dir), "--nodes", str(self.nodes), "--port", str(self.port),
             "--admin", f"admin:{self.password}")
        return self

    def stop(self) -> None:
        _run("cluster-stop", "--dir", str(self.dir))

    def __enter__(self) -> CouchDBCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: list[str]) -> int:
    if len(argv) >= 2 and argv[0] == "stop":
        _run("stop", "--dir", argv[1])
        return 0
    if len(argv) == 3 and argv[0] in ("start", "cluster"):
        target = CouchDBNode(Path(argv[1]), int(argv[2])) if argv[0] == "start" else \
            CouchDBCluster(Path(argv[1]), int(argv[2]))
        target.start()
        print(f"COUCHDB_URL={target.url}")
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
