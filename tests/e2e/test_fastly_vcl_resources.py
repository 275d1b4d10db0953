"""Runbooks using every new fastly step type, through the real CLI against the lab: a
first run creates a dynamic snippet (a version step); then ``cutover plan`` shows the
next runbook's VCL changes as unified diffs, and ``cutover run`` applies them until a
failing guard rolls them all back (the prior version active again, the dynamic snippet's
prior content restored)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cutover.errors import RunExit
from cutover.testing import run_id_of

LAB = """\
environments:
  lab:
    lab: {scenario: pypi-2018}
    vars:
      fastly_api: "{{ lab.api_url }}"
      fastly_token: "env:{{ lab.token_env }}"
      warehouse: "{{ lab.service_ids.warehouse }}"
backends:
  cdn: {kind: fastly, api_url: "{{ fastly_api }}", token: "{{ fastly_token }}",
        services: {warehouse: "{{ warehouse }}"}}
guard: {min_samples: 3, acceptable_rate: 0.01, unacceptable_rate: 0.5, budget: 20s}
"""
SEED = (
    LAB
    + """\
name: seed
probes:
  tag-one:
    probes:
      - url: http://pypi.org/pypi/peppercorn/json
        expect: {header_matches: {X-Tag: "^one$"}}
stages:
  - name: seed
    steps:
      - name: a dynamic snippet
        backend: cdn
        service: warehouse
        version:
          snippets:
            tag: {type: deliver, dynamic: true, content: 'set resp.http.X-Tag = "one";'}
    probes: [tag-one]
rollback:
  verify: [tag-one]
"""
)
RUNBOOK = (
    LAB
    + """\
name: edge-vcl
probes:
  configured:
    probes:
      - url: http://pypi.org/pypi/peppercorn/json
        expect: {header_matches: {X-Echo: "^json$", X-Tag: "^two$"}}
      - url: http://pypi.org/teapot
        expect: {status: 418}
  tag-two:
    probes:
      - url: http://pypi.org/pypi/peppercorn/json
        expect: {header_matches: {X-Tag: "^two$"}}
  untouched:
    probes:
      - url: http://pypi.org/pypi/peppercorn/json
        expect: {header_absent: [X-Echo], header_matches: {X-Tag: "^one$"}}
stages:
  - name: edge
    steps:
      - name: conditions, headers, backend, custom VCL, a dynamic snippet
        backend: cdn
        service: warehouse
        version:
          conditions:
            is-json: {type: REQUEST, statement: 'req.url ~ "/json$"'}
            is-ok: {type: RESPONSE, statement: "resp.status == 200"}
          headers:
            mark: {action: set, type: request, dst: http.X-Mark, src: '"json"',
                   request_condition: is-json}
            echo: {action: set, type: response, dst: http.X-Echo, src: req.http.X-Mark,
                   response_condition: is-ok}
          backends:
            F_Warehouse: {address: warehouse.lab.internal, shield: cache-lab-shield1,
                          override_host: pypi.org}
          vcls:
            main:
              main: true
              content: |
                include "teapots";
                sub vcl_recv {
                #FASTLY recv
                  call teapot;
                  return(lookup);
                }
                sub vcl_deliver {
                #FASTLY deliver
                  return(deliver);
                }
            teapots:
              content: |
                sub teapot {
                  if (req.url.path == "/teapot") {
                    error 418 "teapot";
                  }
                }
          comment: edge config
      - name: tag two
        backend: cdn
        service: warehouse
        dynamic_snippet: tag
        content: |
          set resp.http.X-Tag = "two";
          set resp.http.X-Tags = "one two";
    probes: [configured]
  - name: break
    steps:
      - name: tag three
        backend: cdn
        service: warehouse
        dynamic_snippet: tag
        content: |
          set resp.http.X-Tag = "three";
          set resp.http.X-Tags = "one two";
    probes: [tag-two]
rollback:
  verify: [untouched]
"""
)

PLAN = """\
runbook edge-vcl — environment lab

stage 1: edge
  step  conditions, headers, backend, custom VCL, a dynamic snippet  (cdn/fastly)
        ~ warehouse active version: 2 → '2 cloned, changed, activated'
        = warehouse domains: ["pypi.org"] (unchanged)
        ~ warehouse condition is-json: (absent) → {"priority": 100, "statement": "req.url ~ \\"/json$\\"", "type": "REQUEST"}
        ~ warehouse condition is-ok: (absent) → {"priority": 100, "statement": "resp.status == 200", "type": "RESPONSE"}
        ~ warehouse header mark: (absent) → {"action": "set", "cache_condition": "", "dst": "http.X-Mark", "ignore_if_set": false, "priority": 100, "regex": "", "request_condition": "is-json", "response_condition": "", "src": "\\"json\\"", "substitution": "", "type": "request"}
        ~ warehouse header echo: (absent) → {"action": "set", "cache_condition": "", "dst": "http.X-Echo", "ignore_if_set": false, "priority": 100, "regex": "", "request_condition": "", "response_condition": "is-ok", "src": "req.http.X-Mark", "substitution": "", "type": "response"}
        ~ warehouse backend F_Warehouse: {"address": "warehouse.lab.internal", "comment": "", "override_host": null, "port": 443, "request_condition": "", "shield": "cache-lab-shield1", "use_ssl": true} → {"address": "warehouse.lab.internal", "comment": "", "override_host": "pypi.org", "port": 443, "request_condition": "", "shield": "cache-lab-shield1", "use_ssl": true}
        ~ warehouse custom VCL main: (absent) → {"main": true}
        ~ warehouse custom VCL main content:
          --- live (absent)
          +++ runbook
          @@ -0,0 +1,10 @@
          +include "teapots";
          +sub vcl_recv {
          +#FASTLY recv
          +  call teapot;
          +  return(lookup);
          +}
          +sub vcl_deliver {
          +#FASTLY deliver
          +  return(deliver);
          +}
        ~ warehouse custom VCL teapots: (absent) → {"main": false}
        ~ warehouse custom VCL teapots content:
          --- live (absent)
          +++ runbook
          @@ -0,0 +1,5 @@
          +sub teapot {
          +  if (req.url.path == "/teapot") {
          +    error 418 "teapot";
          +  }
          +}
  step  tag two  (cdn/fastly)
        ~ warehouse dynamic snippet tag content:
          --- live
          +++ runbook
          @@ -1 +1,2 @@
          -set resp.http.X-Tag = "one";
          +set resp.http.X-Tag = "two";
          +set resp.http.X-Tags = "one two";
  probe configured: 2 probe(s)
  guard fail at once on redirect_loop, checksum_mismatch, wrong_final_host, insecure_redirect; rate 0.01 vs 0.5, min 3 samples, budget 20s

stage 2: break
  step  tag three  (cdn/fastly)
        ~ warehouse dynamic snippet tag content:
          --- earlier steps
          +++ runbook
          @@ -1,2 +1,2 @@
          -set resp.http.X-Tag = "two";
          +set resp.http.X-Tag = "three";
           set resp.http.X-Tags = "one two";
  probe tag-two: 1 probe(s)
  guard fail at once on redirect_loop, checksum_mismatch, wrong_final_host, insecure_redirect; rate 0.01 vs 0.5, min 3 samples, budget 20s

rollback: automatic, verified by untouched
"""  # noqa: E501


@pytest.mark.slow
def test_plan_shows_vcl_as_unified_diffs_and_a_run_rolls_every_step_type_back(  # type: ignore[no-untyped-def]
    cli, tmp_path: Path
) -> None:
    runbook = tmp_path / "edge.yml"
    runbook.write_text(RUNBOOK, encoding="utf-8")
    seed = tmp_path / "seed.yml"
    seed.write_text(SEED, encoding="utf-8")
    state = tmp_path / "state"
    seeded = cli("run", seed, "--yes", "--state-dir", state, timeout=180)
    assert seeded.returncode == RunExit.OK, seeded.stdout + seeded.stderr
    plan = cli("plan", runbook, "--state-dir", state)
    assert plan.returncode == RunExit.OK, plan.stdout + plan.stderr
    assert plan.stdout == PLAN
    run = cli("run", runbook, "--yes", "--state-dir", state, timeout=180)
    assert run.returncode == RunExit.ROLLED_BACK, run.stdout + run.stderr
    rolled = [
        line.split("s   ", 1)[1] for line in run.stdout.splitlines() if "rolled back:" in line
    ]
    assert rolled == [
        "rolled back: tag three",
        "rolled back: tag two",
        "rolled back: conditions, headers, backend, custom VCL, a dynamic snippet",
    ]
    # verified by the `untouched` probes: X-Echo gone, X-Tag "one" again (the seed's)
    assert "rollback verified" in run.stdout
    assert f"run {run_id_of(run.stdout)}: rolled_back (exit 1)" in run.stdout
