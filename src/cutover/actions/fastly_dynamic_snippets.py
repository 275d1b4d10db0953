"""A fastly step that changes a dynamic snippet's content: versionless, live at once.

The snippet is found by name on the active version (it must be ``dynamic: "1"``); its
content is read and written at ``/service/{id}/snippet/{snippet_id}`` (no clone, no
activation), then read back. Rollback writes the prior content back, and reads it back.
"""

from __future__ import annotations

from cutover.actions.base import Change, Diff, Reconciled, Record, State
from cutover.actions.control import ControlPlane
from cutover.actions.fastly_version_resources import summary
from cutover.errors import ReadBackError, RejectedActionError


class DynamicSnippet:
    def __init__(self, api: ControlPlane, service: str, name: str, content: str) -> None:
        self.api = api
        self.service = service  #: ``/service/{id}``
        self.name = name
        self.content = content

    def _content(self, snippet_id: str) -> str | None:
        found = self.api.request("GET", f"{self.service}/snippet/{snippet_id}")
        return None if found is None else str(found.get("content") or "")

    def snapshot(self, active: int) -> State:
        found = self.api.request(
            "GET", f"{self.service}/version/{active}/snippet/{self.name}", missing_ok=True
        )
        if found is None or str(found.get("dynamic")) != "1":
            what = "no snippet" if found is None else "a versioned snippet, not a dynamic one"
            raise RejectedActionError(
                f"fastly: {self.name!r} is {what} on the active version {active}"
            )
        snippet_id = str(found["id"])
        return {"snippet_id": snippet_id, "content": self._content(snippet_id)}

    def _target(self, where: str) -> str:
        return f"{where} dynamic snippet {self.name}"

    def plan(self, where: str, live: State) -> Diff:
        return Diff([Change(f"{self._target(where)} content", live["content"], self.content)])

    def targets(self, where: str, live: State) -> list[Change]:
        return [
            Change(
                self._target(where),
                summary({"content": live["content"]}),
                summary({"content": self.content}),
            )
        ]

    def write(self, snippet_id: str, content: str) -> None:
        self.api.request("PUT", f"{self.service}/snippet/{snippet_id}", data={"content": content})
        if self._content(snippet_id) != content:
            raise ReadBackError(f"fastly: dynamic snippet {self.name} does not read back")

    def apply(self, prior: State) -> Record:
        self.write(prior["snippet_id"], self.content)
        return {"snippet_id": prior["snippet_id"]}

    def rollback(self, prior: State) -> None:
        self.write(prior["snippet_id"], prior["content"])

    def reconcile(self, prior: State) -> Reconciled:
        live = self._content(prior["snippet_id"])
        if live == self.content:
            return Reconciled.APPLIED
        return Reconciled.NOT_APPLIED if live == prior["content"] else Reconciled.DRIFTED
