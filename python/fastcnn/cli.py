"""The `fastcnn` command line."""

from __future__ import annotations

import argparse
import json


def _info(args: argparse.Namespace) -> int:
    from .info import collect, format_info

    info = collect()
    print(json.dumps(info, indent=2) if args.json else format_info(info))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="fastcnn", description="fastcnn command line")
    commands = parser.add_subparsers(dest="command", required=True)
    info = commands.add_parser("info", help="build, CPU features, kernel paths, threads, CUDA devices")
    info.add_argument("--json", action="store_true", help="print as JSON")
    info.set_defaults(run=_info)
    args = parser.parse_args(argv)
    return args.run(args)


__all__ = ["main"]
