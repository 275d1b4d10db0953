"""Pieces of runbooks that tests run against the lab."""

from __future__ import annotations

#: A runbook's environments, vars and a ``cdn`` backend (the lab's Fastly-like API, its
#: ``legacy`` service), after a ``name:`` line; a ``str.format`` template (braces doubled),
#: so the rest of the runbook may add fields and backends (indented by two).
LAB_FASTLY_HEAD = """\
environments:
  lab:
    lab: {{scenario: pypi-2018}}
    vars:
      fastly_api: "{{{{ lab.api_url }}}}"
      fastly_token: "env:{{{{ lab.token_env }}}}"
      legacy: "{{{{ lab.service_ids.legacy }}}}"
vars: {{scheme: http}}
backends:
  cdn: {{kind: fastly, api_url: "{{{{ fastly_api }}}}", token: "{{{{ fastly_token }}}}",
        services: {{legacy: "{{{{ legacy }}}}"}}}}
"""
