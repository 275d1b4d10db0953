"""Fastly's dictionary container endpoints beyond list/create/get/delete.

A mixin of :class:`cutover.lab.fastly_api.FastlyApi`:

- ``PUT /service/{sid}/version/{v}/dictionary/{name}`` updates a dictionary on a draft
  (``name``: a rename; ``write_only``), answering the dictionary as ``GET`` does;
- ``GET /service/{sid}/version/{v}/dictionary/{dictionary_id}/info`` answers
  ``{"item_count": N, "last_updated": "YYYY-MM-DD HH:MM:SS", "digest": HEX}`` as Fastly
  does. The digest is the lab's own (sha256 of the sorted items): Fastly does not
  document its algorithm, only that it changes when the items do.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from cutover.lab.fastly_resources import (
    ApiError,
    dictionary_json,
    find_dictionary,
    find_version,
    now_iso,
    require_editable,
)
from cutover.lab.messages import Response, json_response
from cutover.lab.state_store import StateStore

Params = dict[str, Any]
DICTIONARY_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _info_time(iso: str) -> str:
    """``2018-04-16T14:59:00Z`` as Fastly's info spells it: ``2018-04-16 14:59:00``."""
    return iso.replace("T", " ").removesuffix("Z")


class DictionaryEndpoints:
    store: StateStore

    def update_dictionary(self, params: Params, sid: str, v: str, name: str) -> Response:
        with self.store.mutate() as state:
            service, version = find_version(state, sid, v)
            require_editable(version)
            ref = find_dictionary(version, name)
            new_name = params.get("name")
            if new_name is not None and new_name != ref.name:
                if not isinstance(new_name, str) or not DICTIONARY_NAME.fullmatch(new_name):
                    raise ApiError(400, "Bad request", "Name must be a valid VCL identifier")
                if version.dictionary(new_name) is not None:
                    raise ApiError(409, "Duplicate record", f"Duplicate dictionary: '{new_name}'")
                ref.name = new_name
            if "write_only" in params:
                ref.write_only = str(params["write_only"]).lower() == "true"
            ref.updated_at = now_iso()
            return json_response(200, dictionary_json(service, version, ref))

    def dictionary_info(self, params: Params, sid: str, v: str, did: str) -> Response:
        service, version = find_version(self.store.state, sid, v)
        ref = next((d for d in version.dictionaries if d.id == did), None)
        if ref is None:
            raise ApiError(404, "Record not found", f"Couldn't find Dictionary '{did}'")
        items = service.items.get(did, {})
        ordered = sorted((key, item.value) for key, item in items.items())
        stamps = [item.updated_at for item in items.values()] or [ref.updated_at]
        return json_response(
            200,
            {
                "item_count": len(items),
                "last_updated": _info_time(max(stamps)),
                "digest": hashlib.sha256(json.dumps(ordered).encode()).hexdigest(),
            },
        )
