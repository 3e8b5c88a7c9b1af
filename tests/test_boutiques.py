"""boutiques/descriptor.json is the command line's argparse definition, and Boutiques accepts it."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest

from bids_app.boutiques import descriptor
from bids_app.cli import build_parser

DESCRIPTOR = Path(__file__).resolve().parents[1] / "boutiques" / "descriptor.json"
bosh = pytest.importorskip("boutiques").bosh


def test_descriptor_matches_the_parser():
    assert json.loads(DESCRIPTOR.read_text()) == descriptor(), (
        "boutiques/descriptor.json and bids_app.cli.build_parser differ; regenerate it with "
        "`python -m bids_app.boutiques > boutiques/descriptor.json`")


def test_descriptor_is_valid_boutiques():
    bosh(["validate", str(DESCRIPTOR)])  # raises on an invalid descriptor


def test_every_input_reaches_the_parser(tmp_path):
    """A Boutiques invocation that sets every input gives a command line the parser reads back."""
    invocation: dict = {}
    for item in descriptor()["inputs"]:
        if item["type"] == "Flag":
            value = True
        elif item["type"] == "Number":
            value = 3
        elif "value-choices" in item:
            value = item["value-choices"][-1]
        elif item["type"] == "File":
            value = str(tmp_path)
        else:
            value = f"x{item['id']}"
        invocation[item["id"]] = [value] if item.get("list") else value
    path = tmp_path / "invocation.json"
    path.write_text(json.dumps(invocation))
    command = shlex.split(bosh(["exec", "simulate", str(DESCRIPTOR), "-i", str(path)])
                          .shell_command)
    assert command[0] == "ssl-ieeg"
    args = vars(build_parser().parse_args(command[1:]))
    assert set(args) == set(invocation)
    for name, value in invocation.items():
        parsed = args[name]
        parsed = [str(x) for x in parsed] if isinstance(parsed, list) else parsed
        expected = 1 if value is True and name == "verbose" else value  # a count
        assert parsed == expected or str(parsed) == str(expected), name
