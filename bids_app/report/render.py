"""The jinja2 environment shared by the participant and group reports."""

from __future__ import annotations

import platform
from pathlib import Path

import jinja2

from bids_app import __version__
from bids_app.outputs.atomic import write_text

TEMPLATES = Path(__file__).parent / "templates"


def render(template: str, path: Path, **context) -> Path:
    """Render ``template`` with ``context`` and write it atomically to ``path``."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES),
                             autoescape=jinja2.select_autoescape(["html", "j2"]),
                             undefined=jinja2.StrictUndefined)
    html = env.get_template(template).render(
        version=__version__, python=platform.python_version(), **context)
    return write_text(path, html)
