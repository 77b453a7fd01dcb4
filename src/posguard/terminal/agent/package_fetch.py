"""Downloads an update package from the fleet for the ``update`` command:
``GET {base}/api/v1/packages/{sha256}/download`` with the terminal's own bearer credential
(the one it sends events with), streamed into ``<dest>/.part-<sha256>`` with the size
bounded by what the command said, then checked (size, SHA-256) and renamed to
``<dest>/<sha256>.tar.gz``. Anything else -- refused, cut off, too long, another
checksum -- is a :class:`PackageFetchError` and leaves no file behind.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import httpx


class PackageFetchError(Exception):
    """The package could not be had as the command described it (message says why)."""


class PackageFetcher:
    def __init__(
        self,
        base_url: str,
        token: str,
        dest: Path,
        *,
        client: httpx.AsyncClient | None = None,
        timeout: float = 60.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {token}"}
        self.dest = dest
        self._client = client or httpx.AsyncClient(timeout=timeout)

    async def fetch(self, sha256: str, size: int) -> Path:
        """The verified package file (an already verified download is reused)."""
        final = self.dest / f"{sha256}.tar.gz"
        if final.is_file() and final.stat().st_size == size and _sha(final) == sha256:
            return final
        self.dest.mkdir(parents=True, exist_ok=True)
        part = self.dest / f".part-{sha256}"
        url = f"{self.base_url}/api/v1/packages/{sha256}/download"
        digest, got = hashlib.sha256(), 0
        try:
            async with self._client.stream("GET", url, headers=self._headers) as resp:
                if resp.status_code != 200:
                    raise PackageFetchError(f"fleet answered HTTP {resp.status_code} for {url}")
                with open(part, "wb") as out:
                    async for chunk in resp.aiter_bytes():
                        got += len(chunk)
                        if got > size:
                            raise PackageFetchError(f"package is longer than the {size} bytes sent")
                        digest.update(chunk)
                        out.write(chunk)
                    out.flush()
                    os.fsync(out.fileno())
            if got != size:
                raise PackageFetchError(f"package is {got} bytes, the command said {size}")
            found = digest.hexdigest()
            if found != sha256:
                raise PackageFetchError(
                    f"package checksum {found[:12]}... is not the {sha256[:12]}... sent"
                )
            os.replace(part, final)
        except httpx.HTTPError as exc:
            raise PackageFetchError(f"download from {url} failed: {exc}") from exc
        finally:
            part.unlink(missing_ok=True)
        return final

    async def close(self) -> None:
        await self._client.aclose()


def _sha(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(65536), b""):
            h.update(chunk)
    return h.hexdigest()
