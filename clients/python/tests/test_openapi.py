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


def _record_validator():
    import jsonschema

    schemas = json.loads(json.dumps(SPEC["components"]["schemas"]).replace("#/components/schemas/", "#/$defs/"))
    return jsonschema.Draft202012Validator({"$defs": schemas, "$ref": "#/$defs/AnyRecord"})


def test_page_entries_are_v1_records_or_v2_batch_records():
    """A page's records are oneOf Record (v1) and BatchRecord (v2): every vector of each matches exactly one."""
    validator = _record_validator()
    schemas = SPEC["components"]["schemas"]
    v1 = json.loads((ROOT / "Tests/MailroomCoreTests/Vectors/records.json").read_text())["valid"]
    v2 = json.loads((ROOT / "Tests/MailroomCoreTests/Vectors/batch-envelopes.json").read_text())["portable_records"]
    assert v1 and v2
    for text in [v["json_text"] for v in v1] + [v["json"] for v in v2]:
        validator.validate(json.loads(text))
    for vector in v2:
        record = json.loads(vector["json"])
        assert set(record) == set(schemas["BatchRecord"]["properties"]) == set(schemas["BatchRecord"]["required"])
    # Neither kind passes for the other, and the format decides.
    v1_object, v2_object = json.loads(v1[0]["json_text"]), json.loads(v2[0]["json"])
    for bad in (dict(v1_object, format="mailroom.record.v2"), dict(v2_object, format="mailroom.record.v1"),
                dict(v2_object, extra=1), dict(v2_object, record="not base64url!")):
        assert not validator.is_valid(bad)
