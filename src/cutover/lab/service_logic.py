"""What each CDN service does on a node: the lab's stand-in for VCL.

Three service logics, chosen by the service's ``logic`` field:

- ``legacy``: in ``recv``, the edge dictionary ``redirects`` may answer a redirect
  (before any cache lookup, as VCL's ``recv`` does); otherwise hash paths go to the
  object store and everything else to the legacy application.
- ``warehouse``: everything goes to the warehouse application.
- ``files``: object-store paths go to the object store, everything else to the
  conveyor.

Two versioned settings steer the object-store logic of ``files`` and ``legacy``:

- ``lab.object_store_match``: ``url`` selects the object store for hash paths
  (``/packages/xx/yy/<60 hex>/<file>``); ``host`` selects it only when the request's
  Host already is the bucket host (the attempted fix of 2018 that led to 404s: at the
  edge the Host is files.pythonhosted.org, so hash paths fall through to the conveyor).
- ``lab.sign_scope``: ``every_node`` rewrites Host to the bucket host and signs on the
  edge too, whose backend is the shield (the 2018 bug: the shield then routes by the
  bucket host); ``origin_node`` does it only on the node that talks to the object
  store (the fix).

The redirect dictionary (versionless, live at once) has these items:

- ``mode``: ``off`` | ``301`` | ``302``
- ``percent``: 0..100; a path redirects when ``path_bucket(path) < percent``
- ``prefixes``: comma-separated path prefixes (``/`` = every path)
- ``target_host``: where to redirect (default ``pypi.org``); path and query are kept.
"""

from __future__ import annotations

import hashlib

from cutover.lab.hostnames import BUCKET_HOST, WAREHOUSE_HOST
from cutover.lab.messages import Request, Response, redirect_response
from cutover.lab.objectstore import sign_request
from cutover.lab.packages import is_hash_path
from cutover.lab.scenarios import REDIRECT_DICTIONARY
from cutover.lab.state import OBJECT_STORE_MATCH, SIGN_SCOPE, Service, Version


def path_bucket(path: str) -> int:
    """The deterministic 0..99 bucket of a path: first 4 bytes of its sha256, mod 100."""
    return int.from_bytes(hashlib.sha256(path.encode()).digest()[:4], "big") % 100


def _percent(raw: str) -> int:
    try:
        return max(0, min(100, int(raw.strip())))
    except ValueError:
        return 0  # an unreadable percentage redirects nothing


def legacy_redirect(
    service: Service, version: Version, request: Request, scheme: str
) -> Response | None:
    """The redirect the legacy service answers in ``recv``, if any."""
    items = service.dictionary_items(version, REDIRECT_DICTIONARY)
    if not items or request.method not in ("GET", "HEAD"):
        return None
    mode = items["mode"].value.strip() if "mode" in items else "off"
    if mode not in ("301", "302"):
        return None
    raw_prefixes = items["prefixes"].value if "prefixes" in items else "/"
    prefixes = [p.strip() for p in raw_prefixes.split(",") if p.strip()] or ["/"]
    if not any(request.path.startswith(prefix) for prefix in prefixes):
        return None
    percent = _percent(items["percent"].value) if "percent" in items else 100
    if path_bucket(request.path) >= percent:
        return None
    target = items["target_host"].value.strip() if "target_host" in items else ""
    return redirect_response(int(mode), f"{scheme}://{target or WAREHOUSE_HOST}{request.target}")


def wants_object_store(service: Service, version: Version, request: Request) -> bool:
    if service.logic not in ("files", "legacy"):
        return False
    if version.settings.get(OBJECT_STORE_MATCH, "url") == "host":
        return request.host == BUCKET_HOST
    return is_hash_path(request.path)


def edge_backend_request(service: Service, version: Version, request: Request) -> Request:
    """What the edge sends to the shield (its backend)."""
    if version.settings.get(SIGN_SCOPE, "origin_node") == "every_node" and wants_object_store(
        service, version, request
    ):
        return sign_request(request)
    return request


def origin_backend(service: Service, version: Version, request: Request) -> tuple[str, Request]:
    """The backend the origin-facing node fetches from, and the request it sends."""
    if wants_object_store(service, version, request):
        return "object_store", sign_request(request)
    if service.logic == "files":
        return "conveyor", request
    if service.logic == "legacy":
        return "legacy_app", request
    return "warehouse_app", request
