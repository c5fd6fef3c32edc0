"""fraudgan's HTML pages: the Jinja2 templates of `pipeline/templates/`, which share one stylesheet.

Text in a page is escaped; a fragment of HTML goes in only where a template marks it safe.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import jinja2

TEMPLATES = Path(__file__).with_name("templates")


@dataclass(frozen=True)
class Cell:
    """A table cell with a CSS class (a verdict: `better`, `worse` or `ns`); other cells are text."""

    text: str
    css: str


@cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def render_page(template: str, **context: Any) -> str:
    """The page `template` (a file of `pipeline/templates/`) rendered with `context`."""
    return _environment().get_template(template).render(**context)
