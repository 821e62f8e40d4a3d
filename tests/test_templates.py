"""The templates' hooks for the front end: every `data-*` attribute a template
renders is read by a script or a style sheet in static/ (an attribute nothing
reads is dead weight that readers of the template take for a contract)."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DATA_ATTRIBUTE = re.compile(r"\bdata-([a-z][a-z0-9-]*)=")


def rendered_data_attributes() -> list[str]:
    names = set()
    for path in (ROOT / "templates").glob("*.html"):
        names.update(DATA_ATTRIBUTE.findall(path.read_text(encoding="utf-8")))
    return sorted(names)


def front_end() -> str:
    return "\n".join(
        path.read_text(encoding="utf-8")
        for pattern in ("*.js", "*.css")
        for path in (ROOT / "static").glob(pattern)
    )


@pytest.mark.parametrize("name", rendered_data_attributes())
def test_every_data_attribute_a_template_renders_is_read_in_static(name):
    camel = re.sub(r"-([a-z0-9])", lambda m: m.group(1).upper(), name)
    readers = (
        rf"\bdataset\.{camel}\b",  # element.dataset.lastSeq
        rf"\bdata-{name}\b",  # a selector: [data-room="..."], getAttribute("data-room")
    )
    code = front_end()
    assert any(re.search(pattern, code) for pattern in readers), (
        f"data-{name} is rendered by a template but read by nothing in static/"
    )
