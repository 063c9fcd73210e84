"""Test support: storage servers started on 127.0.0.1 for the remote-cache tests, one per test
module (module-scoped fixtures), stopped by pid. A server that cannot start skips its tests
with the reason.

Import the fixtures into a test module to use them: ``from .servers import s3_server``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

#: Dummy credentials: the servers here accept any (unless told to check them).
S3_ENV = {
    "AWS_DEFAULT_REGION": "us-east-1",  # given to s3fs as an option instead, bucket creation fails
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_EC2_METADATA_DISABLED": "true",
}
S3_UNSET = ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_ENDPOINT_URL")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, proc: subprocess.Popen[Any], seconds: float = 30) -> bool:
    """True once something listens on ``port``; False when ``proc`` died or time ran out."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return True
        time.sleep(0.05)
    return False


@contextlib.contextmanager
def server(
    args: list[str], port: int, log: Path, env: dict[str, str] | None = None
) -> Iterator[None]:
    """Run ``args`` (a server listening on ``port``) for the block; stop it by pid after.
    Skips the calling tests when it does not start."""
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            args,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            start_new_session=True,
        )
    try:
        if not wait_for_port(port, proc):
            tail = log.read_text(errors="replace")[-300:]
            pytest.skip(f"{Path(args[0]).name} did not start on 127.0.0.1:{port}: {tail}")
        yield
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)  # its own session: the server and its children
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


class S3Server:
    """A moto S3 server: ``endpoint``, and ``bucket()`` for a new empty bucket."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint

    def fs(self) -> Any:
        import s3fs

        return s3fs.S3FileSystem(
            client_kwargs={"endpoint_url": self.endpoint}, skip_instance_cache=True
        )

    def bucket(self) -> str:
        name = f"b-{uuid.uuid4().hex[:12]}"
        self.fs().mkdir(name)
        return name

    def options(self) -> str:
        return f'{{ endpoint_url = "{self.endpoint}" }}'


def _moto(tmp: Path, env: dict[str, str] | None = None) -> Iterator[S3Server]:
    pytest.importorskip("s3fs", reason="s3fs is not installed (pip install 'incr[s3]')")
    exe = shutil.which("moto_server")
    if exe is None:
        pytest.skip("moto_server is not installed (pip install 'moto[server]')")
    port = free_port()
    with pytest.MonkeyPatch.context() as patch:
        for name, value in S3_ENV.items():
            patch.setenv(name, value)
        for name in S3_UNSET:
            patch.delenv(name, raising=False)
        with server([exe, "-H", "127.0.0.1", "-p", str(port)], port, tmp / "moto.log", env):
            yield S3Server(f"http://127.0.0.1:{port}")


@pytest.fixture(scope="module")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """A moto S3 server for the test module, with dummy credentials in the environment."""
    yield from _moto(tmp_path_factory.mktemp("moto"))


@pytest.fixture(scope="module")
def gcs_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A gcp-storage-emulator on 127.0.0.1 with bucket ``incr-test``; its endpoint."""
    pytest.importorskip("gcsfs", reason="gcsfs is not installed (pip install 'incr[gcs]')")
    exe = shutil.which("gcp-storage-emulator")
    if exe is None:
        pytest.skip("gcp-storage-emulator is not installed (pip install gcp-storage-emulator)")
    port = free_port()
    args = [exe, "start", "--host=127.0.0.1", f"--port={port}", "--in-memory"]
    log = tmp_path_factory.mktemp("gcs") / "gcs.log"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")
        with server([*args, "--default-bucket=incr-test"], port, log):
            yield f"http://127.0.0.1:{port}"


#: Azurite's documented development account (public, the same in every installation).
AZURITE_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)


@pytest.fixture(scope="module")
def azurite_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Azurite's blob service on 127.0.0.1 with container ``incr-test``; the connection
    string, also set as AZURE_STORAGE_CONNECTION_STRING (where adlfs finds credentials)."""
    adlfs = pytest.importorskip(
        "adlfs", reason="adlfs is not installed (pip install 'incr[azure]')"
    )
    exe = shutil.which("azurite-blob")
    if exe is None:
        pytest.skip("azurite is not installed (npm install -g azurite)")
    port = free_port()
    folder = tmp_path_factory.mktemp("azurite")
    args = [exe, "--blobHost", "127.0.0.1", "--blobPort", str(port), "--inMemoryPersistence"]
    args += ["--disableTelemetry", "--skipApiVersionCheck", "--loose"]
    connection = (
        f"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={AZURITE_KEY};"
        f"BlobEndpoint=http://127.0.0.1:{port}/devstoreaccount1;"
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AZURE_STORAGE_CONNECTION_STRING", connection)
        with server(args, port, folder / "azurite.log"):
            adlfs.AzureBlobFileSystem(connection_string=connection).mkdir("incr-test")
            yield connection


class SftpServer:
    """An asyncssh SFTP server running in this process (on a thread), serving ``root``
    without authentication; ``known_hosts`` is a file naming its host key."""

    def __init__(self, root: Path, known_hosts: Path, port: int) -> None:
        self.root, self.known_hosts, self.port = root, known_hosts, port


@pytest.fixture(scope="module")
def sftp_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SftpServer]:
    asyncssh = pytest.importorskip("asyncssh", reason="asyncssh is not installed")
    pytest.importorskip("sshfs", reason="sshfs is not installed (pip install 'incr[ssh]')")
    import asyncio
    import threading

    folder = tmp_path_factory.mktemp("sftp")
    root = folder / "root"
    root.mkdir()
    port = free_port()
    key = asyncssh.generate_private_key("ssh-ed25519")
    known = folder / "known_hosts"
    known.write_text(f"[127.0.0.1]:{port} {key.export_public_key().decode()}")

    class NoAuth(asyncssh.SSHServer):  # type: ignore[misc]
        def begin_auth(self, username: str) -> bool:
            return False

    loop = asyncio.new_event_loop()
    started: list[Any] = []

    async def listen() -> None:
        started.append(
            await asyncssh.listen(
                "127.0.0.1",
                port,
                server_host_keys=[key],
                server_factory=NoAuth,
                sftp_factory=lambda chan: asyncssh.SFTPServer(chan, chroot=os.fspath(root)),
            )
        )

    thread = threading.Thread(target=loop.run_forever, name="sftp-server", daemon=True)
    thread.start()
    try:
        asyncio.run_coroutine_threadsafe(listen(), loop).result(timeout=20)
    except Exception as exc:
        loop.call_soon_threadsafe(loop.stop)
        pytest.skip(f"the asyncssh SFTP server did not start: {exc}")
    try:
        yield SftpServer(root, known, port)
    finally:
        started[0].close()
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
