"""A client for a lab running in this process: its data plane and its Fastly-like API.

Every request goes to the lab over real sockets with httpx, sending the public hostname
in the Host header (as ``curl --resolve`` would); redirects are followed by hand, so each
hop is visible::

    with start_lab("pypi-2018") as lab, LabClient(lab) as world:
        hops, final = world.follow(world.hash_url(world.file(".whl")))
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from cutover.lab import LabHandle
from cutover.lab.hostnames import FILES_HOST
from cutover.lab.packages import Catalog, PackageFile, default_catalog


@dataclass(frozen=True)
class Hop:
    url: str
    status: int
    location: str | None
    served_by: str | None
    cache: str | None
    route: str | None


class LabClient:
    """Data-plane and API access to one running lab."""

    def __init__(self, lab: LabHandle) -> None:
        self.lab = lab
        self.catalog: Catalog = default_catalog()
        self.data = httpx.Client(base_url=f"http://{lab.data_address}", timeout=10)
        self.api = httpx.Client(base_url=lab.api_url, headers={"Fastly-Key": lab.token}, timeout=10)

    def close(self) -> None:
        self.data.close()
        self.api.close()

    def __enter__(self) -> LabClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- data plane --------------------------------------------------------------

    def get(
        self, url: str, method: str = "GET", headers: dict[str, str] | None = None
    ) -> httpx.Response:
        """Request an absolute public URL from the lab's data plane (``headers`` added)."""
        parsed = httpx.URL(url)
        target = parsed.raw_path.decode()
        return self.data.request(method, target, headers={"Host": parsed.host, **(headers or {})})

    def follow(self, url: str, max_hops: int = 10) -> tuple[list[Hop], httpx.Response]:
        """Follow redirects by hand, at most ``max_hops`` requests."""
        hops: list[Hop] = []
        response = self.get(url)
        for _ in range(max_hops):
            location = response.headers.get("location")
            hops.append(
                Hop(
                    url,
                    response.status_code,
                    location,
                    response.headers.get("x-served-by"),
                    response.headers.get("x-cache"),
                    response.headers.get("x-lab-route"),
                )
            )
            if response.status_code not in (301, 302, 303, 307, 308) or location is None:
                break
            url = location
            response = self.get(url)
        return hops, response

    def file(self, suffix: str) -> PackageFile:
        return next(f for f in self.catalog.files if f.filename.endswith(suffix))

    def hash_url(self, f: PackageFile, host: str = FILES_HOST, query: str = "") -> str:
        return f"http://{host}{f.url_path}" + (f"?{query}" if query else "")

    # -- control plane -----------------------------------------------------------

    def sid(self, name: str) -> str:
        return self.lab.service_ids[name]

    def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self.api.request(method, path, **kwargs)

    def ok(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.call(method, path, **kwargs)
        assert response.status_code == 200, (method, path, response.status_code, response.text)
        return response.json()

    def active_version(self, name: str) -> int:
        versions = self.ok("GET", f"/service/{self.sid(name)}/version")
        return int(next(v["number"] for v in versions if v["active"]))

    def new_version(
        self,
        name: str,
        *,
        settings: dict[str, str] | None = None,
        remove_domains: tuple[str, ...] = (),
        add_domains: tuple[str, ...] = (),
        snippets: dict[str, str] | None = None,
    ) -> int:
        """Clone the active version, change it, activate it (as a Fastly action would);
        ``snippets``: versioned snippet name -> its new content."""
        sid = self.sid(name)
        active = self.active_version(name)
        draft = self.ok("PUT", f"/service/{sid}/version/{active}/clone")["number"]
        if settings:
            self.ok("PUT", f"/service/{sid}/version/{draft}/settings", data=settings)
        for domain in remove_domains:
            self.ok("DELETE", f"/service/{sid}/version/{draft}/domain/{domain}")
        for domain in add_domains:
            self.ok("POST", f"/service/{sid}/version/{draft}/domain", data={"name": domain})
        for snippet, content in (snippets or {}).items():
            self.ok(
                "PUT",
                f"/service/{sid}/version/{draft}/snippet/{snippet}",
                data={"content": content},
            )
        assert self.ok("GET", f"/service/{sid}/version/{draft}/validate")["status"] == "ok"
        activated = self.ok("PUT", f"/service/{sid}/version/{draft}/activate")
        assert activated["active"] is True
        return int(draft)

    def redirect_dictionary(self) -> str:
        sid = self.sid("legacy")
        version = self.active_version("legacy")
        found = self.ok("GET", f"/service/{sid}/version/{version}/dictionary/redirects")
        return str(found["id"])

    def set_redirect(self, **items: str) -> None:
        """Upsert legacy ``redirects`` items with one bulk PATCH."""
        sid = self.sid("legacy")
        ops = [{"op": "upsert", "item_key": k, "item_value": v} for k, v in items.items()]
        self.ok(
            "PATCH",
            f"/service/{sid}/dictionary/{self.redirect_dictionary()}/items",
            json={"items": ops},
        )
