"""The package download of the ``update`` command, with its signature: after the package
(:class:`~posguard.terminal.agent.package_fetch.PackageFetcher`),
``GET {base}/api/v1/packages/{sha256}/signature`` with the same credential is written beside
it as ``<sha256>.tar.gz.sig``, where :meth:`SlotUpdater.apply
<posguard.terminal.update.SlotUpdater.apply>` looks for it. A package the fleet holds no
signature for (404) gets no ``.sig`` (a stale one is removed): a terminal that trusts signing
keys then refuses it; one that trusts none installs it as before.
"""

from __future__ import annotations

import os
from pathlib import Path

import httpx

from posguard.common.package_signature import signature_path
from posguard.terminal.agent.package_fetch import PackageFetcher, PackageFetchError


class SignedPackageFetcher(PackageFetcher):
    async def fetch(self, sha256: str, size: int) -> Path:
        package = await super().fetch(sha256, size)
        sig = signature_path(package)
        url = f"{self.base_url}/api/v1/packages/{sha256}/signature"
        try:
            resp = await self._client.get(url, headers=self._headers)
        except httpx.HTTPError as exc:
            raise PackageFetchError(f"signature download from {url} failed: {exc}") from exc
        if resp.status_code == 404:
            sig.unlink(missing_ok=True)
            return package
        if resp.status_code != 200 or len(resp.content) > 512:
            raise PackageFetchError(f"fleet answered HTTP {resp.status_code} for {url}")
        tmp = sig.with_name(sig.name + ".part")
        tmp.write_bytes(resp.content)
        os.replace(tmp, sig)
        return package
