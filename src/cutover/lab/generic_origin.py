"""The lab's generic origin: what answers for a backend the lab has no model of.

A captured scenario's backends point at real addresses (``app.example.com``); the lab
cannot reach them (it never leaves loopback) and does not know what they serve. Each
backend address is mapped to a lab origin by the scenario's ``origins`` (see
docs/lab.md); an address mapped to ``generic`` is answered here:

- every method and path gets ``200``, ``Content-Type: text/plain``, a body naming the
  Host and the path asked for (so a probe can tell which service and path reached it),
  ``Cache-Control: max-age=3600, public`` (so the CDN's nodes cache it, as they would a
  typical static answer) and ``X-Lab-Origin: generic``;
- a path ending in ``/404`` answers ``404`` (uncacheable), so a probe can exercise a
  miss that reaches the origin and fails.
"""

from __future__ import annotations

from cutover.lab.messages import Request, Response, text_response

GENERIC_CACHE = ("Cache-Control", "max-age=3600, public")


class GenericOrigin:
    def handle(self, request: Request) -> Response:
        host = request.headers.get("host", "")
        text = f"lab generic origin\nhost: {host}\npath: {request.target}\n"
        if request.path.endswith("/404"):
            return text_response(404, text, headers=[("X-Lab-Origin", "generic")])
        return text_response(200, text, headers=[GENERIC_CACHE, ("X-Lab-Origin", "generic")])
