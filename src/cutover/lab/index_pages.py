"""The pages of PyPI's index, as the two applications render them.

- the simple API: the project list (``/simple/``) and each project's file list
  (``/simple/<name>/``), in HTML (PEP 503, with PEP 592 ``data-yanked`` and
  ``data-requires-python``) and, when the world's ``simple_api`` is ``today`` and the
  client asks for it, in JSON (PEP 691, with PEP 700's ``versions``, ``size`` and
  ``upload-time``); with ``simple_api: 2018`` it is HTML whatever the client asks, as then;
- the JSON API (``/pypi/<name>/json``, ``/pypi/<name>/<version>/json``) in PyPI's shape:
  ``info`` with every field PyPI reports, ``urls`` and (project form only) ``releases``;
- the project page (``/project/<name>/[<version>/]``), a small HTML page.

Pure functions of the catalog; routing is in :mod:`cutover.lab.origins`.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

from cutover.lab.messages import Response, json_response, text_response
from cutover.lab.packages import PackageFile, Project, normalize_name

SIMPLE_APIS = ("2018", "today")  #: the world's ``simple_api`` settings
HTML = "text/html"
V1_HTML = "application/vnd.pypi.simple.v1+html"
V1_JSON = "application/vnd.pypi.simple.v1+json"
_LATEST = {
    "application/vnd.pypi.simple.latest+html": V1_HTML,
    "application/vnd.pypi.simple.latest+json": V1_JSON,
}
API_VERSION = "1.3"  #: the simple API version PyPI reports today (PEP 691/700/714/740)
LAST_SERIAL = 1
UPLOAD_TIME = "2018-04-16T12:00:00.000000Z"
_PAGE_CACHE = ("Cache-Control", "max-age=0, must-revalidate")
_SERIAL = ("X-PyPI-Last-Serial", str(LAST_SERIAL))

Href = Callable[[PackageFile], str]


def negotiate(accept: str | None, simple_api: str) -> str:
    """The simple API's content type for an ``Accept`` header (PEP 691): the best of the
    offered types by quality (ties: JSON, then v1 HTML, then text/html); ``text/html``
    when nothing offered is acceptable or the world is in its 2018 state."""
    if simple_api != "today" or not accept:
        return HTML
    best: tuple[float, int, str] | None = None
    preference = {V1_JSON: 2, V1_HTML: 1, HTML: 0}
    for part in accept.split(","):
        media, *params = (p.strip() for p in part.split(";"))
        media = _LATEST.get(media.lower(), media.lower())
        quality = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        candidates = [HTML] if media in ("*/*", "text/*") else [media]
        for candidate in candidates:
            if candidate in preference and quality > 0:
                ranked = (quality, preference[candidate], candidate)
                best = ranked if best is None or ranked > best else best
    return HTML if best is None else best[2]


def _simple_headers(simple_api: str) -> list[tuple[str, str]]:
    headers = [_PAGE_CACHE, _SERIAL]
    if simple_api == "today":
        headers.append(("Vary", "Accept"))
    return headers


def _repository_meta(simple_api: str) -> str:
    if simple_api != "today":
        return ""
    return f'    <meta name="pypi:repository-version" content="{API_VERSION}">\n'


def project_list(projects: list[Project], content_type: str, simple_api: str) -> Response:
    """``/simple/``: every project, by its normalised name."""
    headers = _simple_headers(simple_api)
    if content_type == V1_JSON:
        payload = {
            "meta": {"_last-serial": LAST_SERIAL, "api-version": API_VERSION},
            "projects": [{"_last-serial": LAST_SERIAL, "name": p.name} for p in projects],
        }
        return _json(payload, content_type, headers)
    links = "".join(
        f'    <a href="/simple/{normalize_name(p.name)}/">{html.escape(p.name)}</a>\n'
        for p in projects
    )
    page = (
        "<!DOCTYPE html>\n<html>\n  <head>\n"
        f"{_repository_meta(simple_api)}    <title>Simple index</title>\n  </head>\n"
        f"  <body>\n{links}  </body>\n</html>\n"
    )
    return text_response(200, page, content_type=f"{content_type}; charset=utf-8", headers=headers)


def _link(f: PackageFile, href: Href) -> str:
    attributes = ""
    if f.requires_python:
        attributes += f' data-requires-python="{html.escape(f.requires_python)}"'
    if f.yanked is not None:
        attributes += f' data-yanked="{html.escape(f.yanked)}"'
    url = html.escape(f"{href(f)}#sha256={f.sha256}")
    return f'    <a href="{url}"{attributes}>{html.escape(f.filename)}</a><br/>\n'


def _simple_file(f: PackageFile, href: Href) -> dict[str, Any]:
    return {
        "core-metadata": False,
        "data-dist-info-metadata": False,
        "filename": f.filename,
        "hashes": {"sha256": f.sha256},
        "provenance": None,
        "requires-python": f.requires_python,
        "size": f.size,
        "upload-time": UPLOAD_TIME,
        "url": href(f),
        "yanked": False if f.yanked is None else (f.yanked or True),
    }


def project_files(project: Project, href: Href, content_type: str, simple_api: str) -> Response:
    """``/simple/<name>/``: every file of every release, with its digest."""
    headers = _simple_headers(simple_api)
    name = normalize_name(project.name)
    if content_type == V1_JSON:
        payload = {
            "files": [_simple_file(f, href) for f in project.files],
            "meta": {"_last-serial": LAST_SERIAL, "api-version": API_VERSION},
            "name": name,
            "versions": list(project.versions),
        }
        return _json(payload, content_type, headers)
    title = html.escape(project.name)
    links = "".join(_link(f, href) for f in project.files)
    page = (
        "<!DOCTYPE html>\n<html>\n  <head>\n"
        f"{_repository_meta(simple_api)}    <title>Links for {title}</title>\n  </head>\n"
        f"  <body>\n    <h1>Links for {title}</h1>\n{links}  </body>\n</html>\n"
    )
    return text_response(200, page, content_type=f"{content_type}; charset=utf-8", headers=headers)


def _json(payload: Any, content_type: str, headers: list[tuple[str, str]]) -> Response:
    response = json_response(200, payload, headers=headers)
    response.set_header("Content-Type", content_type)
    return response


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
        "requires_python": f.requires_python,
        "size": f.size,
        "upload_time": "2018-04-16T12:00:00",
        "upload_time_iso_8601": UPLOAD_TIME,
        "url": url,
        "yanked": f.yanked is not None,
        "yanked_reason": f.yanked or None,
    }


def _info(project: Project, version: str, base: str) -> dict[str, Any]:
    """PyPI's ``info`` object for one release, every field PyPI reports."""
    meta = project.meta
    files = project.release(version)
    yanked = bool(files) and all(f.yanked is not None for f in files)
    requires_python = next((f.requires_python for f in files if f.requires_python), None)
    return {
        "author": meta.author,
        "author_email": meta.author_email,
        "bugtrack_url": None,
        "classifiers": list(meta.classifiers),
        "description": f"# {project.name}\n\n{project.summary}.\n",
        "description_content_type": "text/markdown",
        "docs_url": None,
        "download_url": "",
        "downloads": {"last_day": -1, "last_month": -1, "last_week": -1},
        "dynamic": None,
        "home_page": meta.home_page,
        "keywords": meta.keywords,
        "license": meta.license,
        "license_expression": None,
        "license_files": None,
        "maintainer": "",
        "maintainer_email": "",
        "name": project.name,
        "package_url": f"{base}/project/{project.name}/",
        "platform": None,
        "project_url": f"{base}/project/{project.name}/",
        "project_urls": dict(meta.project_urls),
        "provides_extra": None,
        "release_url": f"{base}/project/{project.name}/{version}/",
        "requires_dist": None if meta.requires_dist is None else list(meta.requires_dist),
        "requires_python": requires_python,
        "summary": project.summary,
        "version": version,
        "yanked": yanked,
        "yanked_reason": next((f.yanked for f in files if f.yanked), None) if yanked else None,
    }


def json_api(project: Project, version: str | None, href: Href, base: str) -> Response:
    """``/pypi/<name>/json`` (``version`` None: the latest release, with ``releases``) or
    ``/pypi/<name>/<version>/json`` (that release; no ``releases``, as on PyPI)."""
    release = version or project.version
    urls = [_file_json(f, href(f)) for f in project.release(release)]
    payload: dict[str, Any] = {"info": _info(project, release, base), "last_serial": LAST_SERIAL}
    if version is None:
        payload["releases"] = {
            v: [_file_json(f, href(f)) for f in project.release(v)] for v in project.versions
        }
    payload["urls"] = urls
    payload["vulnerabilities"] = []
    return json_response(200, payload, headers=[_PAGE_CACHE, _SERIAL])


def project_page(project: Project, version: str, base: str) -> Response:
    """``/project/<name>/[<version>/]``: the human page, with the install command."""
    name = html.escape(project.name)
    files = "".join(
        f"      <li>{html.escape(f.filename)} (sha256 {f.sha256})</li>\n"
        for f in project.release(version)
    )
    page = (
        '<!DOCTYPE html>\n<html lang="en">\n  <head>\n'
        f"    <title>{name} · PyPI</title>\n"
        f'    <link rel="canonical" href="{base}/project/{name}/{html.escape(version)}/">\n'
        f"  </head>\n  <body>\n    <h1>{name} {html.escape(version)}</h1>\n"
        f"    <p>{html.escape(project.summary)}</p>\n"
        f"    <pre>pip install {name}=={html.escape(version)}</pre>\n"
        f"    <ul>\n{files}    </ul>\n  </body>\n</html>\n"
    )
    return text_response(200, page, content_type="text/html; charset=utf-8", headers=[_PAGE_CACHE])
