"""The haproxy and varnish actions against a real HAProxy and a real varnishd on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from cutover.actions.base import Reconciled
from cutover.actions.haproxy import HaproxyAction
from cutover.actions.varnish import VarnishAction, vcl_name
from cutover.errors import RejectedActionError
from cutover.runbook.proxies import HaproxySettings, HaproxyStep, VarnishSettings, VarnishStep
from cutover.testing.haproxy import haproxy_binary
from cutover.testing.proxy_worlds import VARNISH_BOOT_VCL, HaproxyWorld, VarnishWorld
from cutover.testing.varnish import varnishd_binary

needs_haproxy = pytest.mark.skipif(
    haproxy_binary() is None, reason="no haproxy (apt-get install haproxy)"
)
needs_varnish = pytest.mark.skipif(
    varnishd_binary() is None, reason="no varnishd (apt-get install varnish)"
)


# --- haproxy --------------------------------------------------------------------------------------


@pytest.fixture
def hap(tmp_path: Path) -> Iterator[HaproxyWorld]:
    with HaproxyWorld(tmp_path) as world:
        yield world


def hstep(world: HaproxyWorld, **fields: object) -> HaproxyAction:
    settings = HaproxySettings(socket=str(world.api.address))
    step = HaproxyStep.model_validate({"name": "s", "backend": "proxy", **fields})
    return HaproxyAction(settings, step)


def ramp(world: HaproxyWorld) -> HaproxyAction:
    return hstep(
        world,
        map=str(world.map_file),
        set={"percent": "10", "new_target": f"{world.origin}/new"},
        delete=["legacy_target"],
        servers={"pool/a": {"state": "drain", "weight": 3}},
    )


@needs_haproxy
def test_haproxy_apply_reads_back_and_rollback_is_idempotent(hap: HaproxyWorld) -> None:
    action = ramp(hap)
    before = hap.snapshot()
    prior = action.snapshot()
    assert prior["runtime"] == {
        "percent": "0", "new_target": None, "legacy_target": f"{hap.origin}/legacy"
    }  # fmt: skip
    assert prior["servers"] == {"pool/a": {"state": "ready", "weight": 10}}
    assert action.reconcile(prior, None) is Reconciled.NOT_APPLIED

    record = action.apply(prior)

    assert record == {"map": str(hap.map_file), "set": ["new_target", "percent"],
                      "deleted": ["legacy_target"], "servers": ["pool/a"]}  # fmt: skip
    after = hap.snapshot()
    assert after["runtime"] == ["percent 10", "new_target {origin}/new"]
    assert after["map_file"].splitlines()[1:] == after["runtime"]  # the comment line is kept
    assert action.api.server_state("pool/b").as_json() == {"state": "ready", "weight": 10}
    assert action.reconcile(prior, record) is Reconciled.APPLIED
    assert action.at_target(action.snapshot()) is True

    for _ in range(2):  # after a crash mid-apply (no record), and twice
        action.rollback(prior, None)
        assert hap.snapshot() == before
        assert action.snapshot()["servers"] == prior["servers"]
        assert action.reconcile(prior, None) is Reconciled.NOT_APPLIED


@pytest.mark.parametrize(
    ("live", "found"),
    [
        ("prior", Reconciled.NOT_APPLIED),
        ("applied", Reconciled.APPLIED),
        # a crash after the map commit, before the file and the servers: finish() ends it
        ("runtime only", Reconciled.APPLIED),
        ("someone else's value", Reconciled.DRIFTED),
        # the file changed but not the runtime map: never a state cutover leaves
        ("file only", Reconciled.DRIFTED),
    ],
)
@needs_haproxy
def test_haproxy_reconcile_reads_runtime_file_and_servers(
    hap: HaproxyWorld, live: str, found: Reconciled
) -> None:
    action = ramp(hap)
    prior = action.snapshot()
    name = str(hap.map_file)
    if live == "applied":
        action.apply(prior)
    elif live == "runtime only":
        hap.api.replace_map(name, [("percent", "10"), ("new_target", f"{hap.origin}/new")])
    elif live == "someone else's value":
        hap.api.replace_map(name, [("percent", "77")])
    elif live == "file only":
        hap.map_file.write_text("percent 10\nnew_target x\n")
    assert action.reconcile(prior, None) is found
    if found is Reconciled.APPLIED:
        action.finish(prior)  # what resume does: the file and the servers follow
        assert hap.snapshot()["map_file"].splitlines()[1:] == hap.snapshot()["runtime"]
        assert action.snapshot()["servers"] == {"pool/a": {"state": "drain", "weight": 3}}


@needs_haproxy
def test_haproxy_plan_says_when_the_file_disagrees_with_the_runtime_map(hap: HaproxyWorld) -> None:
    hap.map_file.write_text("percent 5\nlegacy_target elsewhere\n")
    action = hstep(hap, map=str(hap.map_file), set={"percent": "10"})
    rendered = [c.render() for c in action.plan(action.snapshot()).changes]
    assert rendered == [
        f"~ haproxy map {hap.map_file} percent: '0' → '10'",
        f"~ haproxy map file {hap.map_file} percent (disagrees with the runtime map): '5' → '10'",
    ]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"map": "/no/such.map", "set": {"k": "v"}}, "Unknown map identifier"),
        ({"servers": {"pool/zz": {"state": "maint"}}}, "haproxy has no server 'pool/zz'"),
        ({"servers": {"nopool/a": {"weight": 1}}}, "haproxy has no server 'nopool/a'"),
    ],
)
@needs_haproxy
def test_haproxy_refusals_carry_haproxys_words(
    hap: HaproxyWorld, fields: dict[str, object], message: str
) -> None:
    action = hstep(hap, **fields)
    with pytest.raises(RejectedActionError, match=message):
        action.apply(action.snapshot())
    assert hap.snapshot()["runtime"] == ["percent 0", "legacy_target {origin}/legacy"]


def test_haproxy_unreachable_socket_is_transient(tmp_path: Path) -> None:
    from cutover.errors import TransientActionError

    settings = HaproxySettings(socket=str(tmp_path / "none.sock"), timeout=1)
    action = HaproxyAction(settings, HaproxyStep(name="s", backend="b", map="/m", set={"k": "v"}))
    with pytest.raises(TransientActionError, match="unreachable"):
        action.snapshot()


# --- varnish --------------------------------------------------------------------------------------


@pytest.fixture
def var(tmp_path: Path) -> Iterator[VarnishWorld]:
    with VarnishWorld(tmp_path) as world:
        yield world


def vcl_for(world: VarnishWorld, origin: str, marker: str = "") -> str:
    port = world.ports[origin]
    return f'vcl 4.1;\n# {marker}\nbackend b {{ .host = "127.0.0.1"; .port = "{port}"; }}\n'


def vaction(world: VarnishWorld, keep: int = 3, **fields: object) -> VarnishAction:
    assert world.server is not None
    settings = VarnishSettings(
        admin=world.server.admin, secret_file=str(world.server.secret_file), keep=keep
    )
    return VarnishAction(
        settings, VarnishStep.model_validate({"name": "s", "backend": "c", **fields})
    )


@needs_varnish
def test_varnish_switch_reads_back_and_rollback_is_idempotent(var: VarnishWorld) -> None:
    vcl = vcl_for(var, "new")
    action = vaction(var, vcl=vcl, ban=['req.url ~ "^/packages/a\\.b"'])
    prior = action.snapshot()
    assert prior["active"] == "boot"
    assert prior["source"] == VARNISH_BOOT_VCL.format(legacy_port=var.ports["legacy"])
    assert action.reconcile(prior, None) is Reconciled.NOT_APPLIED

    record = action.apply(prior)

    assert record == {"active": vcl_name(vcl), "previous": "boot", "discarded": [], "banned": 1}
    assert var.answer("downloads.example.org") == "200 new"
    assert action.reconcile(prior, record) is Reconciled.APPLIED
    assert action.snapshot()["bans"] == ["req.url ~ ^/packages/a\\.b"]
    for _ in range(2):
        action.rollback(prior, None)
        assert var.snapshot()["active"] == "boot"
        assert var.answer("downloads.example.org") == "200 legacy"
        assert action.reconcile(prior, None) is Reconciled.NOT_APPLIED


@needs_varnish
def test_varnish_refuses_a_vcl_that_does_not_compile(var: VarnishWorld) -> None:
    action = vaction(var, vcl="vcl 4.1;\nbackend x { .host = nope; }\n")
    with pytest.raises(RejectedActionError, match="VCL compilation failed"):
        action.apply(action.snapshot())
    assert var.snapshot()["active"] == "boot"


@pytest.mark.slow
@needs_varnish
def test_varnish_discards_beyond_keep_and_reloads_a_discarded_prior(var: VarnishWorld) -> None:
    priors = []
    for n in range(5):
        action = vaction(var, keep=2, vcl=vcl_for(var, "new", f"v{n}"))
        priors.append((action, action.snapshot()))
        action.apply(priors[-1][1])
    with var.cli() as cli:
        listed = {v["name"]: v["status"] for v in cli.vcl_list()}
    ours = sorted(n for n, s in listed.items() if n.startswith("cutover_") and s != "discarded")
    # the active one, and `keep` (2) others; boot is never discarded
    assert len(ours) == 3 and listed["boot"] == "available"
    # Undo in reverse: step 1's prior (v0) was discarded; it is loaded again from the journal.
    for action, prior in reversed(priors):
        action.rollback(prior, None)
    assert var.snapshot()["active"] == "boot"


@needs_varnish
def test_varnish_wrong_secret_is_refused_without_showing_it(
    var: VarnishWorld, tmp_path: Path
) -> None:
    wrong = tmp_path / "wrong-secret"
    wrong.write_text("not-the-secret-0123456789\n")
    assert var.server is not None
    settings = VarnishSettings(admin=var.server.admin, secret_file=str(wrong))
    action = VarnishAction(settings, VarnishStep(name="s", backend="c", vcl="vcl 4.1;"))
    with pytest.raises(RejectedActionError) as caught:
        action.snapshot()
    assert "refused the secret file" in caught.value.message
    assert "not-the-secret" not in caught.value.render()
