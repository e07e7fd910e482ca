"""docs/openapi.yaml describes the server that is: every route `mailroom serve` registers, and no other, and
the record schema's members are exactly those of the record vectors' JSON form."""
import json
import pathlib
import re

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[3]
SPEC = yaml.safe_load((ROOT / "docs/openapi.yaml").read_text())


def registered_routes() -> set[tuple[str, str]]:
    routes = set()
    server = (ROOT / "Sources/MailroomAPI/APIServer.swift").read_text()
    for method, path in re.findall(r'router\.(get|put|post|delete)\("([^"]+)"\)', server):
        routes.add((method, "/" + path))
    for name in ("MailboxRoutes", "EventRoutes"):
        source = (ROOT / f"Sources/MailroomAPI/Routes/{name}.swift").read_text()
        for method, path in re.findall(r'(?:v1|group)\.(get|put|post|delete)\("([^"]+)"\)', source):
            routes.add((method, "/v1/" + re.sub(r":(\w+)", r"{\1}", path)))
    return routes


def test_every_route_is_described_and_nothing_else():
    described = {(method, path) for path, item in SPEC["paths"].items() for method in item if method in ("get", "put", "post", "delete")}
    routes = registered_routes()
    assert len(routes) >= 13
    assert described == routes


def test_every_signed_route_documents_401_and_429():
    for path, item in SPEC["paths"].items():
        for method, operation in item.items():
            if path.startswith("/v1/"):
                assert {"401", "429"} <= set(operation["responses"]), (method, path)
            else:
                assert operation.get("security") == [], (method, path)


def test_record_schema_matches_the_record_vectors():
    vectors = json.loads((ROOT / "Tests/MailroomCoreTests/Vectors/records.json").read_text())
    schema = SPEC["components"]["schemas"]["Record"]
    for vector in vectors["valid"]:
        record = json.loads(vector["json_text"])
        assert set(record) == set(schema["properties"]) == set(schema["required"])
        assert set(record["metadata"]) <= set(schema["properties"]["metadata"]["properties"])
        assert re.fullmatch(SPEC["components"]["schemas"]["MessageID"]["pattern"], record["id"])
