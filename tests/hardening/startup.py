"""Start the project in a process of its own, as gunicorn or an operator would, quickly.

The start-up tests (L1, L2, W3, D1) each need an interpreter that has never seen the test
settings: settings.py reads the environment once, when it is imported. Starting Python and
importing Django for each case cost about 0.4 s of CPU, thirty-odd times a run. Instead each
test process keeps one *zygote*: an interpreter that has imported Django's own modules and
nothing of ours, and has not configured settings. For each case it forks a child, which replaces
its environment, working directory and arguments with the case's, then imports the project
(or runs manage.py) from scratch and exits. What the child sees is what a fresh `python` with
that environment sees: none of the project's modules is loaded before the fork, and no setting
has been read. (gunicorn --preload forks workers the same way.)
"""

from __future__ import annotations

import atexit
import json
import os
import selectors
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Runs in the zygote. Each request is one JSON line; the answer is the child's exit status.
_ZYGOTE = r"""
import json, os, runpy, sys, traceback

# Django's own modules, none of which reads settings when imported.
import django.core.handlers.wsgi, django.db.models, django.forms, django.template  # noqa
import httpx, environ, psycopg  # noqa

assert "django.conf" not in sys.modules or not sys.modules["django.conf"].settings.configured
assert not [name for name in sys.modules if name.split(".")[0] in {
    "consent_portal", "companies", "connections", "consents", "codat", "codat_sandbox"}]

for line in sys.stdin:
    request = json.loads(line)
    pid = os.fork()
    if pid == 0:
        status = 1
        try:
            out = os.open(request["stdout"], os.O_WRONLY)
            err = os.open(request["stderr"], os.O_WRONLY)
            os.dup2(out, 1)
            os.dup2(err, 2)
            os.environ.clear()
            os.environ.update(request["env"])
            os.chdir(request["cwd"])
            sys.path[0] = request["cwd"]
            sys.argv = request["argv"]
            try:
                status = 0
                if request["script"]:
                    runpy.run_path(request["script"], run_name="__main__")
                else:
                    exec(compile(request["code"], "<string>", "exec"), {"__name__": "__main__"})
            except SystemExit as exit:
                code = exit.code
                if code is None:
                    status = 0
                elif isinstance(code, int):
                    status = code
                else:
                    print(code, file=sys.stderr)
                    status = 1
            except BaseException:
                traceback.print_exc()
                status = 1
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(status)
    _, wait_status = os.waitpid(pid, 0)
    print(json.dumps({"returncode": os.waitstatus_to_exitcode(wait_status)}), flush=True)
"""


@dataclass
class _Zygote:
    process: subprocess.Popen[str]

    def run(self, request: dict, timeout: float) -> int:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        with selectors.DefaultSelector() as selector:
            selector.register(self.process.stdout, selectors.EVENT_READ)
            if not selector.select(timeout):
                self.process.kill()
                raise subprocess.TimeoutExpired(request["argv"], timeout)
        answer = self.process.stdout.readline()
        if not answer:
            raise RuntimeError(f"the start-up zygote died (exit {self.process.wait()})")
        return int(json.loads(answer)["returncode"])


_zygote: _Zygote | None = None


def _the_zygote() -> _Zygote:
    global _zygote
    if _zygote is None or _zygote.process.poll() is not None:
        process = subprocess.Popen(
            [sys.executable, "-c", _ZYGOTE],
            # Nothing of ours in its environment either: each child gets the case's.
            env={"PATH": os.environ.get("PATH", "")},
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        _zygote = _Zygote(process)
        atexit.register(process.kill)
    return _zygote


def run_fresh(
    env: dict[str, str],
    *,
    code: str = "",
    script: str = "",
    args: tuple[str, ...] = (),
    timeout: float = 60,
) -> subprocess.CompletedProcess[str]:
    """Run `code` (as `python -c` would) or `script` with `args` (as `python script args`
    would) in a process that starts from `env` alone, in the repository's root."""
    argv = [script, *args] if script else ["-c", *args]
    with tempfile.TemporaryDirectory() as folder:
        stdout, stderr = Path(folder, "stdout"), Path(folder, "stderr")
        stdout.touch()
        stderr.touch()
        returncode = _the_zygote().run(
            {
                "env": env,
                "cwd": str(ROOT),
                "argv": argv,
                "code": code,
                "script": str(ROOT / script) if script else "",
                "stdout": str(stdout),
                "stderr": str(stderr),
            },
            timeout,
        )
        return subprocess.CompletedProcess(
            argv, returncode, stdout.read_text(errors="replace"), stderr.read_text(errors="replace")
        )
