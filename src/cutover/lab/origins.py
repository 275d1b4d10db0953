"""The application origins behind the CDN: warehouse, legacy PyPI, and the conveyor.

- **warehouse** (pypi.org): ``/simple/<name>/`` (PEP 503, links to
  files.pythonhosted.org hash URLs with ``#sha256=``), ``/pypi/<name>/json`` in PyPI's
  shape (``urls[].url``, ``filename``, ``digests.sha256``, ``size`` …), and
  ``/packages/{path}`` → 301 to ``files.pythonhosted.org/packages/{path}``.
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

import html
from collections.abc import Callable
from typing import Any

from cutover.lab.hostnames import FILES_HOST, LEGACY_HOST, WAREHOUSE_HOST
from cutover.lab.messages import Request, Response, json_response, redirect_response, text_response
from cutover.lab.packages import Catalog, PackageFile, Project, normalize_name

_PAGE_CACHE = ("Cache-Control", "max-age=0, must-revalidate")


def _simple_page(project: Project, href: Callable[[PackageFile], str]) -> Response:
    links = "\n".join(
        f'    <a href="{html.escape(href(f))}#sha256={f.sha256}">{html.escape(f.filename)}</a><br/>'
        for f in project.files
    )
    page = (
        "<!DOCTYPE html>\n<html>\n  <head>\n"
        f"    <title>Links for {html.escape(project.name)}</title>\n  </head>\n  <body>\n"
        f"    <h1>Links for {html.escape(project.name)}</h1>\n{links}\n  </body>\n</html>\n"
    )
    return text_response(200, page, content_type="text/html; charset=utf-8", headers=[_PAGE_CACHE])


def _file_json(f: PackageFile, url: str) -> dict[str, Any]:
    return {
        "comment_text": "",
        "digests": {"blake2b_256": f.blake2b_256, "md5": f.md5, "sha256": f.sha256},
        "downloads": -1,
        "filename": f.filename,
        "has_sig": False,
        "md5_digest": f.md5,
        "packagetype": f.packagetype,
        "python_version": f.python_version,
        "requires_python": None,
        "size": f.size,
        "upload_time": "2018-04-16T12:00:00",
        "upload_time_iso_8601": "2018-04-16T12:00:00.000000Z",
        "url": url,
        "yanked": False,
        "yanked_reason": None,
    }


def _json_page(project: Project, href: Callable[[PackageFile], str], base: str) -> Response:
    urls = [_file_json(f, href(f)) for f in project.files]
    payload = {
        "info": {
            "name": project.name,
            "version": project.version,
            "summary": project.summary,
            "package_url": f"{base}/project/{project.name}/",
            "project_url": f"{base}/project/{project.name}/",
            "release_url": f"{base}/project/{project.name}/{project.version}/",
            "requires_python": None,
            "yanked": False,
        },
        "last_serial": 1,
        "releases": {project.version: urls},
        "urls": urls,
        "vulnerabilities": [],
    }
    return json_response(200, payload, headers=[_PAGE_CACHE])


class _App:
    """Shared routing of the two PyPI applications."""

    host = ""

    def __init__(self, catalog: Catalog, scheme: Callable[[], str]) -> None:
        self.catalog = catalog
        self.scheme = scheme

    def base(self, host: str | None = None) -> str:
        return f"{self.scheme()}://{host or self.host}"

    def file_url(self, f: PackageFile) -> str:
        return f"{self.base(FILES_HOST)}{f.url_path}"

    def handle(self, request: Request) -> Response:
        parts = request.path.split("/")
        if request.path == "/":
            return text_response(200, f"<h1>{self.host}</h1>\n", content_type="text/html")
        if len(parts) == 4 and parts[1] == "simple" and parts[3] == "":
            return self.simple(parts[2])
        if len(parts) == 4 and parts[1] == "simple" and parts[3] != "":
            return redirect_response(301, f"{self.base()}{request.path}/")
        if len(parts) == 4 and parts[1] == "pypi" and parts[3] == "json":
            return self.json(parts[2])
        if request.path.startswith("/packages/"):
            return self.packages(request)
        return text_response(404, "404 Not Found\n")

    def simple(self, name: str) -> Response:
        project = self.catalog.project(name)
        if project is None:
            return text_response(404, "404 Not Found\n")
        if name != normalize_name(name):
            return redirect_response(301, f"{self.base()}/simple/{normalize_name(name)}/")
        return _simple_page(project, self.file_url)

    def json(self, name: str) -> Response:
        project = self.catalog.project(name)
        if project is None:
            return json_response(404, {"message": "Not Found"})
        return _json_page(project, self.file_url, self.base())

    def packages(self, request: Request) -> Response:
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
        return text_response(404, "404 Not Found\n")
