"""The application origins behind the CDN: warehouse, legacy PyPI, and the conveyor.

- **warehouse** (pypi.org): the index of :mod:`cutover.lab.index_pages` (``/simple/``,
  ``/simple/<name>/`` linking to files.pythonhosted.org hash URLs with ``#sha256=``,
  ``/pypi/<name>[/<version>]/json``, ``/project/<name>/[<version>/]``), PyPI's
  redirects (a missing slash, a non-normalised name), and ``/packages/{path}`` → 301 to
  ``files.pythonhosted.org/packages/{path}``.
- **legacy** (pypi.python.org): the old application; ``/simple/<name>/`` links to
  ``pypi.python.org/packages/<hash-path>`` (the legacy service serves those paths from
  the object store itself, see :mod:`cutover.lab.service_logic`).
- **conveyor** (files.pythonhosted.org, non-hash paths):
  ``/packages/<pyver>/<l>/<name>/<file>`` → 302 to the hash URL; 404 for anything it
  cannot find or parse, like the real one (a hash path is one of those).

Absolute URLs use the world's public scheme (``http`` by default in the lab, so
redirect chains are followable against the plain-HTTP data plane).
"""

from __future__ import annotations

from collections.abc import Callable

from cutover.lab import index_pages as pages
from cutover.lab.hostnames import FILES_HOST, LEGACY_HOST, WAREHOUSE_HOST
from cutover.lab.messages import Request, Response, json_response, redirect_response, text_response
from cutover.lab.packages import Catalog, PackageFile, normalize_name


class _App:
    """Shared routing of the two PyPI applications."""

    host = ""

    def __init__(
        self,
        catalog: Catalog,
        scheme: Callable[[], str],
        simple_api: Callable[[], str] = lambda: "2018",
    ) -> None:
        self.catalog = catalog
        self.scheme = scheme
        self.simple_api = simple_api

    def base(self, host: str | None = None) -> str:
        return f"{self.scheme()}://{host or self.host}"

    def file_url(self, f: PackageFile) -> str:
        return f"{self.base(FILES_HOST)}{f.url_path}"

    def handle(self, request: Request) -> Response:
        parts = request.path.split("/")[1:]  # "/simple/x/" -> ["simple", "x", ""]
        if request.path == "/":
            return text_response(200, f"<h1>{self.host}</h1>\n", content_type="text/html")
        if request.path.startswith("/packages/"):
            return self.packages(request)
        head, rest = parts[0], parts[1:]
        if head == "simple":
            return self.simple(request, rest)
        if head == "pypi" and rest[-1:] == ["json"] and len(rest) in (2, 3):
            return self.json(rest[0], rest[1] if len(rest) == 3 else None)
        if head == "project" and rest and rest[0]:
            return self.project_page(request, rest)
        return _not_found()

    def _redirect(self, path: str, request: Request) -> Response:
        query = f"?{request.query}" if request.query else ""
        return redirect_response(301, f"{self.base()}{path}{query}")

    def simple(self, request: Request, rest: list[str]) -> Response:
        """``/simple/``, ``/simple/<name>/``; ``/simple/<name>`` 301s to the slash form
        and a non-normalised name to the normalised one, as PyPI does."""
        content_type = pages.negotiate(request.headers.get("accept"), self.simple_api())
        if rest == [""]:
            projects = sorted(self.catalog.projects.values(), key=lambda p: p.name)
            return pages.project_list(projects, content_type, self.simple_api())
        if len(rest) == 1 and rest[0]:
            return self._redirect(f"/simple/{rest[0]}/", request)
        if len(rest) != 2 or rest[1] != "" or not rest[0]:
            return _not_found()
        name = rest[0]
        project = self.catalog.project(name)
        if project is None:
            return _not_found()
        if name != normalize_name(name):
            return self._redirect(f"/simple/{normalize_name(name)}/", request)
        return pages.project_files(project, self.file_url, content_type, self.simple_api())

    def json(self, name: str, version: str | None) -> Response:
        """The JSON API; a name not spelled as the project's own 301s to that spelling."""
        project = self.catalog.project(name)
        if project is None or (version is not None and not project.release(version)):
            return json_response(404, {"message": "Not Found"})
        if name != project.name:
            release = f"/{version}" if version is not None else ""
            return redirect_response(301, f"{self.base()}/pypi/{project.name}{release}/json")
        return pages.json_api(project, version, self.file_url, self.base())

    def project_page(self, request: Request, rest: list[str]) -> Response:
        """``/project/<name>/`` and ``/project/<name>/<version>/``."""
        project = self.catalog.project(rest[0])
        if project is None or len(rest) > 3 or (len(rest) == 3 and rest[2] != ""):
            return _not_found()
        version = rest[1] if len(rest) >= 2 and rest[1] else None
        if version is not None and not project.release(version):
            return _not_found()
        canonical = f"/project/{project.name}/" + (f"{version}/" if version else "")
        if request.path != canonical:
            return self._redirect(canonical, request)
        return pages.project_page(project, version or project.version, self.base())

    def packages(self, request: Request) -> Response:
        return _not_found()


def _not_found() -> Response:
    return text_response(404, "404 Not Found\n")


class WarehouseApp(_App):
    host = WAREHOUSE_HOST

    def packages(self, request: Request) -> Response:
        query = f"?{request.query}" if request.query else ""
        return redirect_response(301, f"{self.base(FILES_HOST)}{request.path}{query}")


class LegacyApp(_App):
    host = LEGACY_HOST

    def file_url(self, f: PackageFile) -> str:
        return f"{self.base(LEGACY_HOST)}{f.url_path}"


class Conveyor:
    def __init__(self, catalog: Catalog, scheme: Callable[[], str]) -> None:
        self.catalog = catalog
        self.scheme = scheme

    def handle(self, request: Request) -> Response:
        parts = request.path.split("/")
        # ["", "packages", pyver, letter, name, filename]
        if len(parts) == 6 and parts[1] == "packages" and all(parts[2:]):
            found = self.catalog.for_conveyor(parts[2], parts[3], parts[4], parts[5])
            if found is not None:
                return redirect_response(302, f"{self.scheme()}://{FILES_HOST}{found.url_path}")
        return _not_found()
