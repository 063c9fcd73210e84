"""One round trip each on Google Cloud Storage (gcp-storage-emulator), Azure Blob Storage
(Azurite) and SFTP (an asyncssh server in this process): push from a project, then a fresh
clone pulls and executes nothing. Each is skipped, with the reason, when its server cannot
start."""

from __future__ import annotations

from .conftest import MakeProject
from .remotes import clone, origin
from .scratch import outputs
from .servers import SftpServer, azurite_server, gcs_server, sftp_server

__all__ = ["azurite_server", "gcs_server", "sftp_server"]


def round_trip(make_project: MakeProject, url: str, options: str = "") -> None:
    project = origin(make_project, url, options)
    pushed = project.incr("push")
    assert pushed.returncode == 0, pushed.output
    assert "pushed 0 objects" not in pushed.stdout
    fresh = clone(project, "fresh")
    pulled = fresh.incr("pull")
    assert pulled.returncode == 0, pulled.output
    fresh.repro()
    assert fresh.take_ran() == []
    assert outputs(fresh) == outputs(project)
    assert (fresh.root / "out/report.txt").read_bytes() == (
        project.root / "out/report.txt"
    ).read_bytes()
    again = project.incr("push")
    assert "pushed 0 objects and 0 run records" in again.stdout, again.output


def test_gcs_round_trip(make_project: MakeProject, gcs_server: str) -> None:
    options = f'{{ endpoint_url = "{gcs_server}", token = "anon", project = "incr" }}'
    round_trip(make_project, "gs://incr-test/team/cache", options)


def test_azure_round_trip(make_project: MakeProject, azurite_server: str) -> None:
    round_trip(make_project, "az://incr-test/team/cache")


def test_sftp_round_trip(make_project: MakeProject, sftp_server: SftpServer) -> None:
    url = f"sftp://incr@127.0.0.1:{sftp_server.port}/team/cache"
    round_trip(make_project, url, f'{{ known_hosts = "{sftp_server.known_hosts}" }}')
    objects = list((sftp_server.root / "team/cache/objects").glob("*/*"))
    assert objects and not list((sftp_server.root / "team/cache/tmp").glob("*"))
