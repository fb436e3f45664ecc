"""Where a request's CPU goes in gunicorn: a sampling profiler for `webhook_intake.py` runs.

Loaded as a gunicorn config file, it makes each sync worker record its stack whenever it has
used another slice of CPU (SIGPROF; in practice one clock tick, a few ms), tagged with the path
being served, or, between requests (accepting, parsing, closing), the path served last. At
exit each worker writes its counts to CPU_SAMPLES_DIR. Run as a script, it reads them and
splits each path's app server CPU per request (the bench's `machine CPU per request`) by where
the samples fell. Samples are counted, not timed: a share means little below a few hundred.

    .venv/bin/python bench/webhook_intake.py --requests 6000 --max-seconds 150 \\
        --database-url postgres://postgres@127.0.0.1:5432/test \\
        --env GUNICORN_CMD_ARGS="-c bench/cpu_sampler.py" --env CPU_SAMPLES_DIR=/tmp/samples
    .venv/bin/python bench/cpu_sampler.py /tmp/samples /healthz=0.44 /webhooks/codat/=0.58

A measurement aid, not part of `make bench`; cProfile's per-call overhead would distort a
request made of many small calls, sampling does not.
"""

from __future__ import annotations

import collections
import os
import pickle
import signal
import sys
import sysconfig
import tempfile
from pathlib import Path
from types import FrameType

_serving: dict[str, str | None] = {"path": None, "last": None}
_samples: collections.Counter[tuple[str, tuple[str, ...]]] = collections.Counter()


def _sample(signum: int, frame: FrameType | None) -> None:
    stack = []
    while frame is not None:
        stack.append(frame.f_code.co_filename)
        frame = frame.f_back
    _samples[(_serving["path"] or _serving["last"] or "", tuple(stack))] += 1


# --- gunicorn hooks -----------------------------------------------------------------------------


def post_worker_init(worker) -> None:
    signal.signal(signal.SIGPROF, _sample)
    signal.setitimer(signal.ITIMER_PROF, 0.001, 0.001)


def pre_request(worker, req) -> None:
    _serving["path"] = req.path


def post_request(worker, req, environ, resp) -> None:
    _serving["path"], _serving["last"] = None, req.path


def worker_exit(server, worker) -> None:
    signal.setitimer(signal.ITIMER_PROF, 0, 0)
    folder = Path(os.environ.get("CPU_SAMPLES_DIR") or Path(tempfile.gettempdir()) / "cpu-samples")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"worker-{os.getpid()}.pickle").write_bytes(pickle.dumps(dict(_samples)))


# --- the report ---------------------------------------------------------------------------------

_STDLIB = sysconfig.get_paths()["stdlib"]
# Code that only passes calls on: a sample there belongs to whoever called it.
_GLUE = ("django.utils", "asgiref", "django.dispatch")


def _module(filename: str) -> str:
    if "site-packages/" in filename:
        parts = filename.split("site-packages/", 1)[1].removesuffix(".py").split("/")
        depth = 3 if parts[:2] == ["django", "contrib"] else 2 if parts[0] == "django" else 1
        return ".".join(parts[:depth])
    if filename.startswith((_STDLIB, "<")):  # "<frozen …>", "<string>": generated code
        return "stdlib:" + Path(filename).stem
    project = Path(__file__).resolve().parent.parent
    try:
        return ".".join(Path(filename).resolve().relative_to(project).with_suffix("").parts)
    except ValueError:
        return filename


def _where(stack: tuple[str, ...]) -> str:
    """The innermost module in the stack that does work of its own (not the stdlib's plumbing,
    not glue), so that `socket.close` under gunicorn counts for gunicorn."""
    for filename in stack:
        module = _module(filename)
        if module == "stdlib:__init__" and "logging" in filename:
            return "logging"
        if not module.startswith(("stdlib:", *_GLUE)):
            return module
    return _module(stack[0]) if stack else "?"


def report(folder: Path, cpu_ms: dict[str, float], top: int = 14) -> None:
    samples: collections.Counter[tuple[str, tuple[str, ...]]] = collections.Counter()
    for path in folder.glob("worker-*.pickle"):
        samples.update(pickle.loads(path.read_bytes()))
    for served, ms in cpu_ms.items():
        where = collections.Counter()
        for (path, stack), count in samples.items():
            if path == served:
                where[_where(stack)] += count
        total = sum(where.values())
        print(f"{served}: {total} samples, {ms} ms of app server CPU per request")
        for module, count in where.most_common(top):
            print(f"  {ms * count / total:6.3f} ms  {100 * count / total:4.1f} %  {module}")


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(f"usage: {sys.argv[0]} SAMPLES_DIR PATH=MS [PATH=MS …]")
    report(
        Path(sys.argv[1]),
        {path: float(ms) for path, ms in (arg.rsplit("=", 1) for arg in sys.argv[2:])},
    )
