"""Shell completion (docs/cli.md#shell-completion): the script, and what it completes."""

from __future__ import annotations

import pytest

from cutover.testing import run_cutover


@pytest.mark.parametrize(
    ("shell", "line"),
    [
        ("bash", "complete -o default -F _cutover_completion cutover"),
        ("zsh", "compdef _cutover_completion cutover"),
        ("fish", "complete --command cutover --no-files"),
    ],
)
def test_the_completion_script_for_each_shell(shell: str, line: str) -> None:
    """``_CUTOVER_COMPLETE=source_SHELL cutover``: what ``--show-completion`` prints for the
    shell it detects, for any shell named."""
    done = run_cutover(env={"_CUTOVER_COMPLETE": f"source_{shell}"})
    assert done.returncode == 0, done.stderr
    assert line in done.stdout


@pytest.mark.parametrize(
    ("words", "cword", "expected"),
    [
        ("cutover rep", 1, ["report"]),
        ("cutover re", 1, ["resume", "report"]),
        ("cutover report last --for", 3, ["--format"]),
        ("cutover check c.yml --only", 3, ["--only-failures"]),
    ],
)
def test_bash_completes_commands_and_options(words: str, cword: int, expected: list[str]) -> None:
    env = {"_CUTOVER_COMPLETE": "complete_bash", "COMP_WORDS": words, "COMP_CWORD": str(cword)}
    done = run_cutover(env=env)
    assert done.returncode == 0, done.stderr
    assert sorted(done.stdout.split()) == sorted(expected)
