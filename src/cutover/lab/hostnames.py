"""The hostnames of the 2018 world, in one place.

The three public hostnames are what clients (pip, probes) ask for; the bucket host is
what the CDN must send to the object store, and which (in 2018) a CDN service still
claimed as one of its domains.
"""

from __future__ import annotations

LEGACY_HOST = "pypi.python.org"  #: the legacy PyPI service
WAREHOUSE_HOST = "pypi.org"  #: the new PyPI (warehouse)
FILES_HOST = "files.pythonhosted.org"  #: the file-hosting service
BUCKET_HOST = "pypi-files.s3.amazonaws.com"  #: the object store bucket

PUBLIC_HOSTS: tuple[str, ...] = (LEGACY_HOST, WAREHOUSE_HOST, FILES_HOST)

EDGE_NODE = "cache-lab-edge1"  #: the client-facing node (the data-plane port)
SHIELD_NODE = "cache-lab-shield1"  #: the shield node in front of the origins

#: Backend addresses the lab's nodes can fetch from -> the lab origin answering there.
ORIGIN_ADDRESSES: dict[str, str] = {
    BUCKET_HOST: "object_store",
    "conveyor.lab.internal": "conveyor",
    "warehouse.lab.internal": "warehouse_app",
    "legacy.lab.internal": "legacy_app",
}
