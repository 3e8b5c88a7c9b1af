"""The Boutiques descriptor of the command line, generated from its argparse definition.

``python -m bids_app.boutiques > boutiques/descriptor.json`` writes it; the test suite fails
when the file and :func:`bids_app.cli.build_parser` disagree. Every option is described
under its hyphen spelling (the underscore aliases are the same inputs).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from bids_app import __version__
from bids_app.cli import ANALYSIS_LEVELS, build_parser

#: Inputs that name a folder the app creates, so they need not exist (Boutiques ``String``).
CREATED = ("output_dir", "work_dir")


def descriptor(parser: argparse.ArgumentParser | None = None) -> dict[str, Any]:
    """The Boutiques (schema 0.5) descriptor of ``ssl-ieeg``.

    Parameters
    ----------
    parser : ArgumentParser | None
        The parser to describe (default :func:`bids_app.cli.build_parser`).

    Returns
    -------
    descriptor : dict
        JSON-serialisable; one input per argument, in the parser's order.
    """
    parser = parser or build_parser()
    inputs = [_input(action) for action in parser._actions
              if not isinstance(action, (argparse._HelpAction, argparse._VersionAction))]
    return {
        "name": parser.prog,
        "tool-version": __version__,
        "description": parser.description,
        "command-line": " ".join([parser.prog, *(item["value-key"] for item in inputs)]),
        "schema-version": "0.5",
        "inputs": inputs,
        "output-files": [{"id": "derivatives", "name": "Derivatives",
                          "description": "the BIDS derivatives dataset (OUTPUT_DIR)",
                          "path-template": "[OUTPUT_DIR]", "optional": False}],
    }


def _input(action: argparse.Action) -> dict[str, Any]:
    """One Boutiques input from one argparse action."""
    item: dict[str, Any] = {"id": action.dest, "name": action.dest.replace("_", " "),
                            "value-key": f"[{action.dest.upper()}]",
                            "optional": not action.required and bool(action.option_strings)}
    if action.help:
        item["description"] = action.help.replace("%%", "%")
    if action.option_strings:
        item["command-line-flag"] = max(action.option_strings, key=_flag_rank)
    if isinstance(action, (argparse._StoreTrueAction, argparse._CountAction)):
        item["type"] = "Flag"
        return item
    if action.type is int:
        item.update({"type": "Number", "integer": True})
    elif action.type is Path and action.dest not in CREATED:
        item["type"] = "File"
    else:
        item["type"] = "String"
    if action.nargs == "+":
        item.update({"list": True, "min-list-entries": 1})
    choices = ANALYSIS_LEVELS if action.dest == "analysis_level" else action.choices
    if choices:
        item["value-choices"] = list(choices)
    if action.default not in (None, [], False):
        item["default-value"] = action.default
    return item


def _flag_rank(flag: str) -> tuple[bool, bool]:
    """The documented spelling first: long, then with hyphens rather than underscores."""
    return flag.startswith("--"), "_" not in flag


def main() -> None:
    """Print the descriptor as indented JSON."""
    print(json.dumps(descriptor(), indent=2))


if __name__ == "__main__":
    main()
