"""One table for a whole `make bench` run: every measured row beside its baseline, its ratio
and whether it meets the issue's goal.

    .venv/bin/python bench/summary.py bench/results/<run>/

It reads the JSON the three scripts wrote with `--json` into that folder
(`webhook_intake.json`, `customer_pages.json`, `admin_pages.json`; any of them may be
missing, which the table says). A measurement, not a test: it exits 0 whatever the figures,
1 only if a part of the run left no results.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path

PARTS = ("webhook_intake", "customer_pages", "admin_pages")
RATIO_GOAL = 0.5  # webhook intake and customer pages: at least half the baseline's throughput
# Listed for its cost, not held to the goal: it holds the whole history by design, streamed.
NO_GOAL = {"/consents/receipt.json"}


def intake_rows(report: dict) -> list[list[str]]:
    trivial = report["results"]["trivial"]
    webhook = report["results"]["webhook"]
    ratio = report["ratios"]["throughput"]
    w5 = report["w5"]
    p95 = "-" if w5["p95_ms"] is None else f"{w5['p95_ms']:.1f} ms"
    return [
        [
            "intake",
            "POST /webhooks/codat/ (throughput)",
            f"{trivial['throughput_rps']:.0f} req/s",
            f"{webhook['throughput_rps']:.0f} req/s",
            "-" if ratio is None else f"{ratio:.2f}",
            f"ratio ≥ {RATIO_GOAL}",
            verdict(report["goal_met"]),
        ],
        [
            "intake",
            "POST /webhooks/codat/ (W5: p95, 5xx)",
            "-",
            f"{p95}, {w5['5xx']} x 5xx",
            "-",
            "p95 < 1 s, no 5xx",
            verdict(w5["met"]),
        ],
    ]


def pages_rows(report: dict) -> list[list[str]]:
    results = report["results"]
    trivial = next(row for row in results if row["path"] == "/bench/trivial/")
    return [
        [
            "customer",
            row["page"],
            f"{trivial['median_ms']:.2f} ms",
            f"{row['median_ms']:.2f} ms",
            f"{row['ratio']:.2f}",
            *(
                ("none: the whole history, streamed", "-")
                if row["path"] in NO_GOAL
                else (f"ratio ≥ {RATIO_GOAL}", verdict(row["ratio"] >= RATIO_GOAL))
            ),
        ]
        for row in results
        if row is not trivial
    ]


def admin_rows(report: dict) -> list[list[str]]:
    baseline = report["baseline_median_ms"]
    return [
        [
            "admin",
            row["page"],
            f"{baseline:.2f} ms",
            f"{row['median_ms']:.1f} ms",
            f"{row['ratio']:.3f}",
            f"median < {report['goal_ms']:g} ms",
            verdict(row["goal_met"]),
        ]
        for row in report["results"]
    ]


def verdict(met: bool) -> str:
    return "met" if met else "NOT MET"


def describe(part: str, report: dict) -> str:
    if part == "webhook_intake":
        config = report["config"]
        return (
            f"intake: gunicorn {config['gunicorn_workers']}x{config['gunicorn_threads']}, "
            f"{config['database']}; baseline GET /healthz in the same server"
            + ("; TIME LIMIT: partial" if report.get("cut_short") else "")
        )
    if part == "customer_pages":
        args = report["args"]
        return (
            f"customer: one process, cache {args['cache_url']}, history {args['history']}"
            + (", cold" if args.get("cold") else "")
            + "; baseline the trivial signed-in page, interleaved"
        )
    seeded = f", seeded in {report['seed_seconds']:.0f} s" if report.get("seed_seconds") else ""
    return (
        f"admin: {report['database']}{seeded}; baseline the trivial signed-in page, "
        "requested before every admin page"
    )


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    if len(arguments) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    folder = Path(arguments[0])
    rows: list[list[str]] = []
    notes: list[str] = []
    missing = []
    builders = {"webhook_intake": intake_rows, "customer_pages": pages_rows}
    for part in PARTS:
        path = folder / f"{part}.json"
        if not path.exists():
            missing.append(part)
            continue
        report = json.loads(path.read_text())
        rows += builders.get(part, admin_rows)(report)
        notes.append(describe(part, report))
    header = ["part", "row", "baseline", "measured", "ratio", "goal", "result"]
    widths = [max(len(line[i]) for line in [header, *rows]) for i in range(len(header))]
    right = {2, 3, 4}  # figures

    def line(cells: list[str]) -> str:
        return "  ".join(
            cell.rjust(width) if index in right else cell.ljust(width)
            for index, (cell, width) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    print()
    print(f"make bench: every goal in one table ({folder})")
    for note in notes:
        print(f"  {note}")
    print()
    print(line(header))
    print(line(["-" * width for width in widths]))
    for row in rows:
        print(line(row))
    print()
    held = [row for row in rows if row[-1] != "-"]
    not_met = [f"{row[0]}: {row[1]}" for row in held if row[-1] != "met"]
    print(f"{len(held) - len(not_met)} of {len(held)} rows with a goal meet it.")
    for name in not_met:
        print(f"  NOT MET  {name}")
    for part in missing:
        print(f"  NO RESULTS from {part}.py (it failed or was not run)")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
