"""The command line: --help, --version, bad flags, scripts that fail to load
or configure (one clear line naming file and line, non-zero exit)."""
from netns import isolate

isolate()

import time  # noqa: E402

from fdntest import case, check, eq, finish, run_fdnode


@case("--help lists the flags")
def _():
    code, out, err = run_fdnode("--help")
    eq(code, 0, "--help exits 0")
    for flag in ("--http", "--http-host", "--timeout", "--name", "--log-level", "--version",
                 "--http-idle-timeout", "--http-max-per-addr"):
        check(flag in out, "--help lists " + flag)


@case("--version prints the version")
def _():
    code, out, err = run_fdnode("--version")
    eq(code, 0, "--version exits 0")
    check(out.startswith("fdnode "), "--version prints the version", out)


def one_line_failure(args, must_contain, name):
    @case("%s: one line on stderr, non-zero exit" % name)
    def _():
        code, out, err = run_fdnode(*args)
        check(code != 0, name + ": non-zero exit", str(code))
        lines = [l for l in err.splitlines() if l.strip()]
        eq(len(lines), 1, name + ": one line on stderr")
        check(all(s in err for s in must_contain), name + ": names " + ", ".join(must_contain), err)


one_line_failure(["--bogus", "x.lua"], ["--bogus"], "unknown flag")
one_line_failure(["--http"], ["--http"], "flag without value")
one_line_failure(["--http", "99999", "x.lua"], ["99999"], "bad port")
one_line_failure(["--log-level", "loud", "x.lua"], ["loud"], "bad log level")
one_line_failure(["--spin", "20000", "x.lua"], ["--spin", "20000"], "spin out of range")
one_line_failure([], ["no script"], "no script")
one_line_failure(["tests/integration/fixtures/nope.lua"], ["nope.lua"], "missing script")
one_line_failure(["tests/integration/fixtures/syntax_error.lua"], ["syntax_error.lua:3:"], "syntax error")
one_line_failure(["tests/integration/fixtures/configure_error.lua"], ["configure_error.lua:4:"],
                 "configure error")
one_line_failure(["tests/integration/fixtures/no_function.lua"], ["no_function.lua", "configure function"],
                 "no configure function")


@case("a fault in the start itself (after the scripts configured) exits 1 with its traceback, never hangs")
def _():
    code, out, err = run_fdnode("tests/integration/fixtures/breaks_boot.lua", timeout=10)
    eq(code, 1, "exit status 1")
    check("internal error while starting" in err and "paths" in err, "says so, with the traceback", err[-600:])


@case("fdnode call of a path nobody serves answers NotFound once discovery settles, not after --timeout")
def _():
    t0 = time.monotonic()
    code, out, err = run_fdnode("call", "nope", "find", timeout=15)
    took = time.monotonic() - t0
    check(code == 1 and '"name":"NotFound"' in err, "NotFound, exit 1", err)
    check(took < 3, "within about a second (discovery's 1.2 s), not the 10 s --timeout", "%.2fs" % took)

finish()
