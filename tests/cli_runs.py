"""Running the command line inside the test process, as the CLI tests do: ``main(argv)`` with standard
output and error captured, and the JSON summary a run prints last."""

import contextlib
import io
import json
from pathlib import Path

from tinygrad_edu.app import cli


def run_in_process(argv, cwd=None):
    """``main(argv)`` with stdout/stderr captured, in ``cwd`` (default: here): (status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), contextlib.chdir(cwd or Path.cwd()):
        status = cli.main([str(a) for a in argv])
    return status, out.getvalue(), err.getvalue()


def last_json(stdout):
    """The JSON object on the last line of a run's standard output (what --json prints)."""
    return json.loads(stdout.strip().splitlines()[-1])
