"""A service version's VCL, assembled as Fastly assembles it, and compiled.

The main VCL is the version's custom VCL marked ``main``, or Fastly's boilerplate
(:data:`BOILERPLATE`). Each ``#FASTLY <sub>`` macro expands to the generated code for
that subroutine (:mod:`cutover.lab.vcl_generated`: backends, conditions, headers)
followed by the version's snippets of that type, by priority then name. ``init``
snippets are placed at the top level. A dynamic snippet's content is the service's
versionless content.

Compiled programs are kept per (service, version, VCL text): a dictionary item changes
nothing here (tables are read per request), a dynamic snippet update recompiles.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from cutover.lab.state import Service, Version
from cutover.lab.vcl import Program, VclError, VclSource, compile_program
from cutover.lab.vcl_generated import generated

#: Fastly's default VCL for a service without custom VCL (the macros only, and the
#: default hash: URL and Host).
BOILERPLATE = """\
sub vcl_recv {
#FASTLY recv
  if (req.method != "GET" && req.method != "HEAD") {
    return(pass);
  }
  return(lookup);
}

sub vcl_hash {
  set req.hash += req.url;
  set req.hash += req.http.host;
#FASTLY hash
  return(hash);
}

sub vcl_hit {
#FASTLY hit
  return(deliver);
}

sub vcl_miss {
#FASTLY miss
  return(fetch);
}

sub vcl_pass {
#FASTLY pass
  return(pass);
}

sub vcl_fetch {
#FASTLY fetch
  return(deliver);
}

sub vcl_error {
#FASTLY error
  return(deliver);
}

sub vcl_deliver {
#FASTLY deliver
  return(deliver);
}

sub vcl_log {
#FASTLY log
}
"""
MAX_PROGRAMS = 256


@dataclass(frozen=True)
class Assembled:
    main: VclSource
    includes: dict[str, VclSource]
    placed: dict[str, list[VclSource]]
    tables: tuple[str, ...]
    backends: tuple[str, ...]

    def fingerprint(self) -> str:
        digest = hashlib.sha256()
        for where, source in [
            ("main", self.main),
            *(("include", s) for s in self.includes.values()),
            *((macro, s) for macro, v in self.placed.items() for s in v),
        ]:  # the macro too: the same text placed elsewhere is another program
            digest.update(f"{where}\0{source.name}\0{source.text}\0".encode())
        digest.update("\0".join([*self.tables, "|", *self.backends]).encode())
        return digest.hexdigest()


def assemble(service: Service, version: Version) -> Assembled:
    main = next((v for v in version.vcls if v.main), None)
    includes = {v.name: VclSource(v.name, v.content) for v in version.vcls if not v.main}
    placed = generated(version)
    for snippet in sorted(version.snippets, key=lambda s: (s.priority, s.name)):
        content = (
            service.snippet_contents.get(snippet.id, snippet.content)
            if snippet.dynamic
            else snippet.content
        )
        placed.setdefault(snippet.type, []).append(VclSource(f"snippet {snippet.name}", content))
    return Assembled(
        main=VclSource(main.name, main.content) if main else VclSource("boilerplate", BOILERPLATE),
        includes=includes,
        placed=placed,
        tables=tuple(d.name for d in version.dictionaries),
        backends=tuple(b.name for b in version.backends),
    )


class Programs:
    """Compiled programs, by the text they were compiled from (bounded)."""

    def __init__(self) -> None:
        self._cache: dict[str, Program] = {}

    def get(self, service: Service, version: Version) -> Program:
        assembled = assemble(service, version)
        key = assembled.fingerprint()
        found = self._cache.get(key)
        if found is None:
            found = compile_assembled(assembled)
            if len(self._cache) >= MAX_PROGRAMS:
                del self._cache[next(iter(self._cache))]
            self._cache[key] = found
        return found


def compile_assembled(assembled: Assembled) -> Program:
    return compile_program(
        assembled.main,
        includes=assembled.includes,
        placed=assembled.placed,
        tables=assembled.tables,
        backends=assembled.backends,
    )


def vcl_problems(service: Service, version: Version) -> list[str]:
    """What validation and activation refuse in the version's VCL (located)."""
    try:  # generating code from conditions and headers may refuse too (located)
        compile_assembled(assemble(service, version))
    except VclError as error:
        return [f"VCL: {error}"]
    return []
