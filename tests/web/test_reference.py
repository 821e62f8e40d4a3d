"""The API contract's own routes (chat/web/reference.py): the OpenAPI
description at /api/openapi.json is a valid OpenAPI 3.1 document, public,
and covers every /api/ route the app has; the reference page /docs/api and
its vendored viewer are served from this site under its usual CSP."""

import hashlib
import re

import pytest
from openapi_spec_validator import OpenAPIV31SpecValidator

from chat.web import headers, reference

from ..conftest import ROOT

VENDOR = ROOT / "static" / "vendor" / "swagger-ui"


def test_the_description_is_a_valid_openapi_3_1_document(client):
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    spec = response.get_json()
    assert spec["openapi"].startswith("3.1.")
    errors = [str(e.message) for e in OpenAPIV31SpecValidator(spec).iter_errors()]
    assert errors == []


def test_the_description_needs_no_login_and_is_revalidated_by_etag(client):
    first = client.get("/api/openapi.json")
    assert first.status_code == 200 and first.headers["ETag"]
    again = client.get("/api/openapi.json", headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304


def _flask_rule_as_openapi_path(rule: str) -> str:
    """/api/rooms/<name>/messages/<int:seq> -> /api/rooms/{name}/messages/{seq}."""
    path = re.sub(r"<any\([^)]*\):(\w+)>", r"{format}", rule)
    return re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", path)


def _api_operations(app) -> set[tuple[str, str]]:
    found = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/"):
            for method in rule.methods - {"HEAD", "OPTIONS"}:
                found.add((_flask_rule_as_openapi_path(rule.rule), method.lower()))
    return found


def _described_operations() -> set[tuple[str, str]]:
    paths = reference.description()["paths"]
    return {
        (path, method)
        for path, item in paths.items()
        for method in item
        if method in ("get", "put", "post", "delete", "patch")
    }


def test_every_api_route_is_described_and_nothing_else(app):
    routes = _api_operations(app)
    described = _described_operations()
    # Path parameters may be named differently in the description ({id} for <key>).
    normalise = lambda ops: {(re.sub(r"\{\w+\}", "{}", p), m) for p, m in ops}  # noqa: E731
    assert normalise(routes) - normalise(described) == set(), "routes missing from openapi.yaml"
    assert normalise(described) - normalise(routes) == set(), "openapi.yaml has no such route"


def test_every_operation_says_what_it_answers_with_and_how_it_fails():
    for path, item in reference.description()["paths"].items():
        for method, operation in item.items():
            if method == "parameters":
                continue
            statuses = set(operation["responses"])
            assert "default" not in statuses, (path, method)
            assert any(s.startswith("2") for s in statuses), (path, method)
            assert {"500"} <= statuses, (path, method)
            assert operation.get("summary") and operation.get("operationId"), (path, method)


def test_no_text_was_split_into_stray_keys():
    """In YAML's {a: b, c} a comma in unquoted text ends the value: the rest
    becomes a key of its own with no value. No key of the description is one."""

    def stray(node, where="#"):
        if isinstance(node, dict):
            for key, value in node.items():
                if value is None and " " in str(key):
                    yield f"{where}/{key}"
                yield from stray(value, f"{where}/{key}")
        elif isinstance(node, list):
            for i, item in enumerate(node):
                yield from stray(item, f"{where}/{i}")

    assert list(stray(reference.description())) == []


def test_the_reference_page_is_served_without_login_under_the_site_csp(client):
    response = client.get("/docs/api")
    assert response.status_code == 200
    assert response.headers["Content-Security-Policy"] == headers.CONTENT_SECURITY_POLICY
    html = response.text
    assert 'data-spec-url="/api/openapi.json"' in html
    # No CDN, no inline script or style: everything it loads is this site's.
    sources = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert sources and all(s.startswith("/") and not s.startswith("//") for s in sources)
    assert "<style" not in html and " style=" not in html
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), "an inline script"


@pytest.mark.parametrize(
    "asset",
    [
        "/static/vendor/swagger-ui/swagger-ui-bundle.js",
        "/static/vendor/swagger-ui/swagger-ui.css",
        "/static/api_docs.js",
        "/static/favicon.svg",
    ],
)
def test_the_reference_pages_assets_are_served(client, asset):
    assert asset in client.get("/docs/api").text
    response = client.get(asset)
    assert response.status_code == 200
    assert len(response.data) > 0
    response.close()


def test_the_vendored_viewer_is_the_published_one_with_its_licence():
    readme = (VENDOR / "README.md").read_text(encoding="utf-8")
    for name in ("swagger-ui-bundle.js", "swagger-ui.css"):
        digest = hashlib.sha256((VENDOR / name).read_bytes()).hexdigest()
        assert f"{digest}  {name}" in readme, f"{name} differs from the checksum in README.md"
    assert "Apache License" in (VENDOR / "LICENSE").read_text(encoding="utf-8")
    assert (VENDOR / "NOTICE").is_file()
