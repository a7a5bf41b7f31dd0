"""The ``lb-assets`` command: sandbox, export, overview, demo and dev.

Logs go to stderr; results are printed on stdout. The API key comes from ``--api-key`` or
``$LABELBOX_API_KEY`` and is never printed (except the sandbox's own local test key). ``export`` and ``demo``
draw progress bars on stderr when it is a terminal (``--progress``/``--no-progress`` or
``LB_ASSETS_PROGRESS=1|0`` decide otherwise); log lines then print above the bars.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from lb_assets.errors import LbAssetsError

logger = logging.getLogger("lb_assets.cli")

SANDBOX_DEFAULT_KEY = "sandbox-key"


def _add_progress_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress bars on stderr (default: when stderr is a terminal; $LB_ASSETS_PROGRESS)",
    )


def _add_connection_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--api-key", default=None, help="Labelbox API key (default: $LABELBOX_API_KEY)")
    parser.add_argument(
        "--endpoint", default=None, help="GraphQL endpoint (default: $LABELBOX_ENDPOINT, else Labelbox's)"
    )
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per API request (default 60)")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``lb-assets``."""
    parser = argparse.ArgumentParser(
        prog="lb-assets", description="Labelbox projects -> versioned Deep Lake datasets (Dagster code location)."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    sb = sub.add_parser(
        "sandbox",
        help="serve a local Labelbox API with the demo projects",
        description="Serve the loopback Labelbox sandbox (demo projects loaded) until Ctrl-C. "
        "Point clients at it with the LABELBOX_ENDPOINT/LABELBOX_API_KEY printed.",
    )
    sb.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    sb.add_argument("--port", type=int, default=8765, help="port (default 8765; 0 = any free port)")
    sb.add_argument(
        "--api-key",
        default=SANDBOX_DEFAULT_KEY,
        help=f"key clients must send (default {SANDBOX_DEFAULT_KEY!r}; a local test key, not a secret)",
    )
    sb.add_argument("--seed", type=int, default=0, help="demo data seed (default 0)")
    sb.add_argument("--no-demo", action="store_true", help="start empty, without the demo projects")

    ex = sub.add_parser(
        "export",
        help="export one project to an NDJSON file",
        description="Export a Labelbox project (export v2) to an NDJSON file, streamed and "
        "written atomically. Filters combine with AND.",
    )
    ex.add_argument("--project-id", required=True, help="Labelbox project id")
    ex.add_argument("--out", required=True, type=Path, help="NDJSON file to write")
    ex.add_argument(
        "--workflow-status",
        choices=["TO_LABEL", "IN_REVIEW", "IN_REWORK", "DONE"],
        help="only rows in this workflow status",
    )
    ex.add_argument("--since", help="only rows active at or after this time (ISO 8601)")
    ex.add_argument("--until", help="only rows active at or before this time (ISO 8601)")
    ex.add_argument("--data-row-id", action="append", dest="data_row_ids", help="only this data row (repeatable)")
    ex.add_argument("--global-key", action="append", dest="global_keys", help="only this global key (repeatable)")
    ex.add_argument("--batch-id", action="append", dest="batch_ids", help="only this batch (repeatable)")
    ex.add_argument("--interpolated-frames", action="store_true", help="include interpolated video frames")
    _add_progress_arg(ex)
    _add_connection_args(ex)

    ov = sub.add_parser(
        "overview",
        help="print a project's workflow counts",
        description="Print a project's data rows per workflow state (JSON with --json).",
    )
    ov.add_argument("--project-id", required=True, help="Labelbox project id")
    ov.add_argument("--json", action="store_true", help="print JSON")
    _add_connection_args(ov)

    demo = sub.add_parser(
        "demo",
        help="run the whole asset graph on the bundled demo (no account, no network)",
        description="Start the sandbox in-process and materialize every asset of both demo "
        "projects headless; prints where the datasets are.",
    )
    demo.add_argument("--output", default=None, help="output directory (default demo_output)")
    demo.add_argument("--seed", type=int, default=None, help="demo data seed (default 0)")
    _add_progress_arg(demo)

    dev = sub.add_parser(
        "dev",
        help="sandbox + labeling on a timer + `dagster dev` (UI)",
        description="Start the sandbox (labeling advances on a timer) and `dagster dev` until Ctrl-C.",
    )
    dev.add_argument("--output", default=None, help="output directory (default demo_output)")
    dev.add_argument("--port", type=int, default=None, help="Dagster UI port (default 3000)")
    dev.add_argument("--sandbox-port", type=int, default=None, help="sandbox port (default: any free port)")
    dev.add_argument(
        "--advance-every", type=float, default=None, help="seconds between demo labeling steps (default 60)"
    )
    return parser


def _api_key(ns: argparse.Namespace) -> str:
    key = ns.api_key or os.environ.get("LABELBOX_API_KEY", "")
    if not key:
        raise LbAssetsError("No Labelbox API key: pass --api-key or set LABELBOX_API_KEY")
    return key


def _cmd_sandbox(ns: argparse.Namespace) -> int:
    from lb_assets.sandbox.server import serve

    if ns.port:
        print(f"Labelbox sandbox on http://{ns.host}:{ns.port}/graphql (Ctrl-C to stop)", flush=True)
        print(f"  export LABELBOX_ENDPOINT=http://{ns.host}:{ns.port}/graphql", flush=True)
    else:
        print("Labelbox sandbox on a free port: its endpoint is logged below (Ctrl-C to stop)", flush=True)
    print(f"  export LABELBOX_API_KEY={ns.api_key}", flush=True)
    serve(ns.host, ns.port, ns.api_key, demo=not ns.no_demo, seed=ns.seed)
    return 0


def _cmd_export(ns: argparse.Namespace) -> int:
    from lb_assets.labelbox.client import make_client
    from lb_assets.labelbox.export import ExportFilters, export_project
    from lb_assets.progress import Bars, ExportBar, logs_above_bars

    filters = ExportFilters(
        last_activity_start=ns.since,
        last_activity_end=ns.until,
        workflow_status=ns.workflow_status,
        data_row_ids=ns.data_row_ids,
        global_keys=ns.global_keys,
        batch_ids=ns.batch_ids,
    )
    client = make_client(_api_key(ns), ns.endpoint, ns.timeout)
    with Bars(ns.progress) as bars, logs_above_bars(bars):
        summary = export_project(
            client,
            ns.project_id,
            ns.out,
            filters,
            ns.interpolated_frames,
            progress=ExportBar(bars) if bars.enabled else None,
        )
    print(json.dumps(summary.as_dict(), indent=2))
    return 0


def _cmd_overview(ns: argparse.Namespace) -> int:
    from lb_assets.labelbox.client import make_client
    from lb_assets.labelbox.overview import fetch_overview

    overview = fetch_overview(make_client(_api_key(ns), ns.endpoint, ns.timeout), ns.project_id)
    if ns.json:
        print(json.dumps(overview.as_dict(), indent=2))
    else:
        print(f"project {ns.project_id}")
        for name, value in overview.as_dict().items():
            print(f"  {name:<12} {value}")
    return 0


def _cmd_demo_or_dev(ns: argparse.Namespace) -> int:
    from lb_assets import cli_demo  # imports Dagster: only for these two commands

    runner = cli_demo.run_demo if ns.command == "demo" else cli_demo.run_dev
    return int(runner(ns) or 0)


COMMANDS = {
    "sandbox": _cmd_sandbox,
    "export": _cmd_export,
    "overview": _cmd_overview,
    "demo": _cmd_demo_or_dev,
    "dev": _cmd_demo_or_dev,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``lb-assets``; returns the exit code (1 on an lb_assets error, 2 on usage errors)."""
    ns = build_parser().parse_args(argv)
    quiet = ns.command == "demo"  # one line per asset instead of pages of logs (-v shows them)
    level = logging.DEBUG if ns.verbose else logging.WARNING if quiet else logging.INFO
    logging.basicConfig(level=level, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return COMMANDS[ns.command](ns)
    except LbAssetsError as exc:
        print(f"lb-assets {ns.command}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
