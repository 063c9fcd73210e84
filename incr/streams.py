"""Moving large objects to and from a remote with bounded memory (see ``incr.remote``).

The backends' batch calls hold a large object (or its parts) in memory and keep the memory
once they are done with it, so objects of ``STREAM_FROM`` bytes and more go through buffers of
``STREAM_BLOCK`` bytes. Downloads from S3, GCS and Azure fetch ``RANGES`` byte ranges at once,
on the event loop that also fetches the batch of small objects: one large object then waits
neither for the batch nor for one range after another.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from blake3 import blake3

#: Objects from this size on are streamed one by one through a buffer of ``STREAM_BLOCK``.
STREAM_FROM = 32 << 20
STREAM_BLOCK = 8 << 20
#: Byte ranges of one large object downloaded at once (at most this many blocks in memory).
RANGES = 4
#: Protocols whose filesystems fetch a byte range with ``_cat_file(path, start, end)``
#: (s3fs, gcsfs, adlfs). sshfs reads the whole file whatever the range: SFTP streams.
BY_RANGES = frozenset({"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss"})


def upload(fs: Any, src: str, dest: str) -> None:
    """Upload one file in ``STREAM_BLOCK`` pieces. It is published only once whole: an object
    store commits a multipart upload on ``close``, which an error skips (``discard`` aborts
    it), as does a killed process."""
    out = fs.open(dest, "wb", block_size=STREAM_BLOCK)
    try:
        with open(src, "rb") as fh:
            while block := fh.read(STREAM_BLOCK):
                out.write(block)
    except BaseException:
        out.discard()
        raise
    out.close()


def download(fs: Any, src: str, dest: str) -> str:
    """Download one file in ``STREAM_BLOCK`` pieces, without a read-ahead cache; the digest of
    its bytes, hashed as they arrive (for a backend without an async API)."""
    hasher = blake3()
    with (
        fs.open(src, "rb", block_size=STREAM_BLOCK, cache_type="none") as fh,
        open(dest, "wb") as out,
    ):
        while block := fh.read(STREAM_BLOCK):
            out.write(block)
            hasher.update(block)
    return hasher.hexdigest()


def download_all(
    fs: Any, small: list[tuple[str, str]], large: list[tuple[str, str, int]]
) -> dict[str, str]:
    """Download ``small`` (source, destination) pairs in one batch call and ``large`` ones
    (source, destination, size) by ranges or streams; the digests of the large ones hashed
    while streaming, by destination (an object fetched by ranges is hashed afterwards)."""
    protocols = {fs.protocol} if isinstance(fs.protocol, str) else set(fs.protocol)
    if large and protocols & BY_RANGES and getattr(fs, "async_impl", False):
        from fsspec.asyn import sync

        sync(fs.loop, _download_async, fs, small, large)
        return {}
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as streams:  # the large objects beside the batch
        pending = [(dest, streams.submit(download, fs, src, dest)) for src, dest, _ in large]
        if small:
            fs.get([src for src, _ in small], [dest for _, dest in small])
        return {dest: future.result() for dest, future in pending}


async def _download_async(
    fs: Any, small: list[tuple[str, str]], large: list[tuple[str, str, int]]
) -> None:
    ranges = asyncio.Semaphore(RANGES)
    jobs = [_by_ranges(fs, src, dest, size, ranges) for src, dest, size in large]
    if small:
        jobs.append(fs._get([src for src, _ in small], [dest for _, dest in small]))
    await asyncio.gather(*jobs)


async def _by_ranges(fs: Any, src: str, dest: str, size: int, ranges: asyncio.Semaphore) -> None:
    """Fetch ``src`` in ``STREAM_BLOCK`` ranges, each written at its place in ``dest``. A
    remote object of another size than listed gives other bytes, refused by their digest."""
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:

        async def part(start: int) -> None:
            async with ranges:
                end = min(start + STREAM_BLOCK, size)
                block = await fs._cat_file(src, start=start, end=end)
                os.pwrite(fd, block, start)

        await asyncio.gather(*(part(start) for start in range(0, max(size, 1), STREAM_BLOCK)))
    finally:
        os.close(fd)
