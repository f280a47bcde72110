"""The OpenAPI document describes every API route, and schemathesis finds no 5xx and no response off its schema."""

import datetime as dt
import random
import re

import hypothesis
import pytest
import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (content_type_conformance, response_schema_conformance,
                                               status_code_conformance)

from analyzer.accounts import tokens, users
from analyzer.ingest.rollups import rebuild_rollups
from analyzer.web import create_app
from analyzer.web.openapi import DOCUMENT
from tests.test_funnels import random_stream
from tests.test_web import migrate, settings  # noqa: F401  (fixtures)

METHODS = ("get", "post", "put", "patch", "delete")


def documented_rule(rule):
    """Write a Bottle rule (/api/v1/sessions/<key:path>) as an OpenAPI path (/api/v1/sessions/{key})."""
    return re.sub(r"<(\w+)(:[^>]*)?>", r"{\1}", rule)


def test_every_api_route_is_in_the_document_and_nothing_else(settings):
    app = create_app(settings)
    routes = {(documented_rule(r.rule), r.method.lower()) for r in app.routes if r.rule.startswith("/api/")}
    documented = {(path, method) for path, item in DOCUMENT["paths"].items() for method in item if method in METHODS}
    assert routes == documented


def test_the_document_is_served_without_a_token(settings):
    import webtest
    body = webtest.TestApp(create_app(settings)).get("/api/v1/openapi.json").json
    assert body["openapi"] == "3.1.0" and body == DOCUMENT


@pytest.fixture
def fuzzed(settings):
    """The app on a database with random sessions and events, and a read and an ingest token."""
    migrate(settings)
    app = create_app(settings)
    db = app.config["analyzer.db"]
    with db.connection_context():
        random_stream(random.Random(3), sessions=40)
        rebuild_rollups(db)
        user = users.create("fuzz@example.com", "a long random password 1", "analyst", cheap=True)
        read, ingest = tokens.create(user, "read", "fuzz")[0], tokens.create(user, "ingest", "fuzz")[0]
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    yield schema, {"get": read, "post": ingest}
    if not db.is_closed():
        db.close()


@pytest.fixture
def api_schema(fuzzed):
    return fuzzed[0]


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@hypothesis.settings(max_examples=10, deadline=dt.timedelta(seconds=5).total_seconds() * 1000,
                     suppress_health_check=list(hypothesis.HealthCheck), derandomize=True)
def test_the_api_has_no_server_error_and_keeps_its_schema(case, fuzzed):
    token = fuzzed[1].get(case.method.lower(), fuzzed[1]["get"])
    # Invalid input is generated too; the API may read a lenient value (an empty 'to') as missing, so the checks
    # are: no 5xx, a documented status, JSON, and a body that fits the schema of its status.
    case.call_and_validate(headers={"Authorization": f"Bearer {token}"},
                           checks=[not_a_server_error, status_code_conformance, content_type_conformance,
                                   response_schema_conformance])
