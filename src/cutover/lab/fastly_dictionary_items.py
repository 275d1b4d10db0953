"""Fastly's dictionary item endpoints (versionless: live at once, no new version).

A mixin of :class:`cutover.lab.fastly_api.FastlyApi`: get, list, create (POST),
upsert (PUT), update (PATCH), delete, and the bulk ``PATCH .../items`` with
``{"items": [{"op": "create|update|upsert|delete", "item_key": ..., "item_value": ...}]}``.
A bulk request is all-or-nothing: the first bad operation refuses the whole batch.
"""

from __future__ import annotations

from typing import Any

from cutover.lab.fastly_resources import (
    MAX_BULK_ITEMS,
    ApiError,
    check_item,
    find_dictionary_items,
    item_json,
    now_iso,
    page_bounds,
    upserted_item_json,
)
from cutover.lab.messages import Response, json_response
from cutover.lab.state import Item
from cutover.lab.state_store import StateStore

Params = dict[str, Any]
_OK = {"status": "ok"}


class DictionaryItemEndpoints:
    store: StateStore

    def list_items(self, params: Params, sid: str, did: str) -> Response:
        service, items = find_dictionary_items(self.store.state, sid, did)
        ordered = sorted(items.items())
        if str(params.get("direction", "ascend")) == "descend":
            ordered.reverse()
        start, stop = page_bounds(params)
        return json_response(200, [item_json(service, did, k, i) for k, i in ordered[start:stop]])

    def _item(self, items: dict[str, Item], did: str, key: str) -> Item:
        if key not in items:
            raise ApiError(
                404, "Record not found", f'Couldn\'t find DictionaryItem \'["{did}", "{key}"]\''
            )
        return items[key]

    def get_item(self, params: Params, sid: str, did: str, key: str) -> Response:
        service, items = find_dictionary_items(self.store.state, sid, did)
        return json_response(200, item_json(service, did, key, self._item(items, did, key)))

    def create_item(self, params: Params, sid: str, did: str) -> Response:
        key, value = check_item(params.get("item_key"), params.get("item_value"))
        with self.store.mutate() as state:
            service, items = find_dictionary_items(state, sid, did)
            if key in items:
                raise ApiError(409, "Duplicate record", f"Duplicate dictionary_item: '{key}'")
            stamp = now_iso()
            items[key] = Item(value, stamp, stamp)
            return json_response(200, item_json(service, did, key, items[key]))

    def upsert_item(self, params: Params, sid: str, did: str, key: str) -> Response:
        key, value = check_item(key, params.get("item_value"))
        with self.store.mutate() as state:
            service, items = find_dictionary_items(state, sid, did)
            stamp = now_iso()
            previous = items.get(key)
            items[key] = Item(value, previous.created_at if previous else stamp, stamp)
            return json_response(200, upserted_item_json(service, did, key, items[key]))

    def update_item(self, params: Params, sid: str, did: str, key: str) -> Response:
        key, value = check_item(key, params.get("item_value"))
        with self.store.mutate() as state:
            service, items = find_dictionary_items(state, sid, did)
            item = self._item(items, did, key)
            item.value = value
            item.updated_at = now_iso()
            return json_response(200, item_json(service, did, key, item))

    def delete_item(self, params: Params, sid: str, did: str, key: str) -> Response:
        with self.store.mutate() as state:
            _, items = find_dictionary_items(state, sid, did)
            self._item(items, did, key)
            del items[key]
            return json_response(200, _OK)

    def bulk_items(self, params: Params, sid: str, did: str) -> Response:
        operations = params.get("items")
        if not isinstance(operations, list) or not operations:
            raise ApiError(400, "Bad request", "items must be a non-empty array")
        if len(operations) > MAX_BULK_ITEMS:
            raise ApiError(400, "Bad request", f"At most {MAX_BULK_ITEMS} items per request")
        with self.store.mutate() as state:
            _, items = find_dictionary_items(state, sid, did)
            stamp = now_iso()
            for index, op in enumerate(operations):  # bounded by MAX_BULK_ITEMS
                if not isinstance(op, dict):
                    raise ApiError(400, "Bad request", f"items[{index}] must be an object")
                kind = op.get("op")
                if kind not in ("create", "update", "upsert", "delete"):
                    raise ApiError(
                        400,
                        "Bad request",
                        f"items[{index}].op must be create, update, upsert or delete",
                    )
                key, value = check_item(
                    op.get("item_key"), op.get("item_value"), need_value=kind != "delete"
                )
                if kind == "create":
                    if key in items:
                        raise ApiError(
                            409, "Duplicate record", f"Duplicate dictionary_item: '{key}'"
                        )
                    items[key] = Item(value, stamp, stamp)
                elif kind == "update":
                    self._item(items, did, key).value = value
                    items[key].updated_at = stamp
                elif kind == "upsert":
                    previous = items.get(key)
                    items[key] = Item(value, previous.created_at if previous else stamp, stamp)
                else:  # delete
                    self._item(items, did, key)
                    del items[key]
            return json_response(200, _OK)
