"""Scenario tests for what a new user mistypes: commands and options get a
"did you mean", every command the same way (one helper in src/cli/cli.c and
one edit distance in src/base/suggest.c), and exit status 2.
"""
import pytest

# Every command with its subcommand, as a user types it; each takes --output.
WITH_OUTPUT = [
    ["init"], ["check"], ["run"], ["keygen"], ["release"], ["verify"], ["audit", "verify"], ["audit", "log"],
    ["token", "create"], ["token", "list"], ["token", "revoke"], ["join-token", "create"], ["hosts"],
    ["deploy"], ["status"], ["rollback"], ["history"], ["pause"], ["resume"], ["promote"], ["abort"],
    ["retry"], ["analysis", "show"], ["haproxy-config"], ["version"],
]


def test_unknown_command_did_you_mean(sw):
    p = sw("deplyo")
    assert p.returncode == 2
    assert p.stderr.splitlines()[0] == "slipway: unknown command 'deplyo' (did you mean 'deploy'?)"
    p = sw("hist")  # an abbreviation: history, not hosts (two edits away)
    assert p.returncode == 2
    assert "(did you mean 'history'?)" in p.stderr
    p = sw("xyzzy")  # nothing close: the list of commands instead
    assert p.returncode == 2
    assert "did you mean" not in p.stderr
    assert "commands:" in p.stderr


def test_unknown_subcommand_did_you_mean(sw):
    p = sw("audit", "lgo")
    assert p.returncode == 2
    assert p.stderr.startswith("slipway audit: unknown command 'lgo' (did you mean 'log'?)\n")
    p = sw("token", "craete")
    assert p.returncode == 2
    assert "(did you mean 'create'?)" in p.stderr


def test_environment_for_env(sw):
    for cmd in (["deploy"], ["rollback"], ["history", "hello"], ["haproxy-config"]):
        p = sw(*cmd, "--environment", "staging")
        assert p.returncode == 2, cmd
        first = p.stderr.splitlines()[0]
        assert first == f"slipway {cmd[0]}: unknown option '--environment' (did you mean '--env'?)", first
        assert p.stdout == ""
    # the same with --environment=staging
    p = sw("deploy", "--environment=staging")
    assert p.returncode == 2
    assert "unknown option '--environment' (did you mean '--env'?)" in p.stderr


@pytest.mark.parametrize("cmd", WITH_OUTPUT, ids=lambda c: "-".join(c))
def test_every_command_suggests_its_options(sw, cmd):
    p = sw(*cmd, "--outptu", "json")
    assert p.returncode == 2, p.stderr
    name = "analysis" if cmd[0] == "analysis" else " ".join(cmd)
    assert p.stderr.splitlines()[0] == f"slipway {name}: unknown option '--outptu' (did you mean '--output'?)"
    assert p.stderr.splitlines()[1] == f"try 'slipway {name} --help'"


def test_option_errors_are_precise(sw):
    # an option of another command is unknown here, suggested among this command's own options
    p = sw("status", "--wait")
    assert p.returncode == 2
    assert p.stderr.splitlines()[0] == "slipway status: unknown option '--wait'"
    p = sw("history", "hello", "--env")
    assert p.returncode == 2
    assert "option '--env' needs a value" in p.stderr
    p = sw("deploy", "--wait=yes")
    assert p.returncode == 2
    assert "option '--wait' takes no value" in p.stderr
    p = sw("run", "-f")  # run's short options go through the same path
    assert p.returncode == 2
    assert "option '-f' needs a value" in p.stderr
    p = sw("run", "--jbos", "x")
    assert p.returncode == 2
    assert "unknown option '--jbos' (did you mean '--jobs'?)" in p.stderr
    p = sw("rollback", "hello", "--e", "staging")  # an abbreviation of two options
    assert p.returncode == 2
    assert "option '--e' is ambiguous (--env, --emergency)" in p.stderr


def test_manual_control_verbs_each_say_what_they_do(sw):
    helps = {v: sw(v, "--help", check=0).stdout for v in ("pause", "resume", "promote", "abort", "retry")}
    # each its own text: no sentence copied from pause into the others
    for v in ("resume", "promote", "abort", "retry"):
        assert "already paused" not in helps[v], v
    assert "already paused" in helps["pause"]
    assert "not paused" in helps["resume"]
    assert "already promoted" in helps["promote"] and "--full" in helps["promote"]
    assert "--emergency" in helps["abort"] and "'aborted'" in helps["abort"]
    assert "NEW deployment of the same release" in helps["retry"]
    assert "already\nretried as" in helps["retry"]
    descriptions = [h.split("\n\n")[1] for h in helps.values()]
    assert len(set(descriptions)) == 5
    summary = sw("help", check=0).stdout
    assert "retry          start a new deployment" in summary


@pytest.mark.parametrize("cmd", WITH_OUTPUT + [["server"], ["agent"], ["token"], ["audit"]], ids=lambda c: "-".join(c))
def test_every_help_has_usage_and_a_description(sw, cmd):
    p = sw(*cmd, "--help", check=0)
    assert p.stderr == ""
    first = p.stdout.splitlines()[0]
    assert first.startswith("usage: slipway " + cmd[0]), first
    if cmd[0] == "token" and len(cmd) > 1:  # each token command has its own usage now
        assert first.startswith("usage: slipway " + " ".join(cmd)), first
    para = p.stdout.split("\n\n")[1]
    assert len(para) > 20 and not para.startswith("options"), para
