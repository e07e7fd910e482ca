"""Runs schemathesis against a live `mailroom serve`, every generated request signed; prints one JSON object.

Usage: python api_schemathesis.py OPENAPI_YAML URL EXAMPLES [SEED]

With SEED > 0 the key first sends itself SEED envelopes and a shared batch (format v2, the key listed twice)
through the API and waits (up to a minute) until a worker has stored them, so the generated list requests answer
pages of real records of both formats (v1 records and v2 batch entries).

For every operation of the document except the two event streams (they never end; api_events_probe.py covers
them), Hypothesis generates EXAMPLES positive and EXAMPLES negative cases (schemathesis's generators, seeded
so a run is reproducible). Each request is signed as sent: a requests auth hook signs the prepared request's
method, path and query and body (docs/API.md, "Authentication") with a key whose mailbox exists. Every
response goes through schemathesis's checks: no 5xx, a status, content type, headers and body the document
declares, and 4xx for the negative cases. Prints ``{"requests": N, "by_operation": {...}, "statuses": {...},
"failures": [{"operation", "mode", "check", "status", "message"}]}``; exits 0 either way (the caller judges).
"""

import collections
import json
import sys
import time

import hypothesis
import requests
import schemathesis
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.checks import not_a_server_error
from schemathesis.core.parameters import ParameterLocation

from mailroom_client.api import ApiClient, sign_request
from mailroom_client.batch import seal_shared
from mailroom_client.envelope import seal
from mailroom_client.keys import Identity

document, base_url, examples = sys.argv[1], sys.argv[2].rstrip("/"), int(sys.argv[3])
seed = int(sys.argv[4]) if len(sys.argv) > 4 else 0
STREAMS = {"/v1/inbox/events", "/v1/sentbox/events"}
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance]


class Signed(requests.auth.AuthBase):
    """Signs the request exactly as it goes on the wire (after schemathesis and requests built it)."""

    def __init__(self, identity):
        self.identity = identity

    def __call__(self, request):
        body = request.body or b""
        if isinstance(body, str):
            body = body.encode("utf-8")
        for name in ("Mailroom-Key", "Mailroom-Timestamp", "Mailroom-Nonce", "Mailroom-Signature"):
            request.headers.pop(name, None)
        request.headers.update(sign_request(self.identity, request.method, request.path_url, body))
        return request


class Unsigned(requests.auth.AuthBase):
    """Sends the generated (invalid) authentication headers as they are."""

    def __call__(self, request):
        return request


identity = Identity.generate()
signed, unsigned = Signed(identity), Unsigned()
session = requests.Session()
setup = session.put(f"{base_url}/v1/mailbox", auth=signed, timeout=30)
if setup.status_code != 200:
    sys.exit(f"PUT /v1/mailbox answered {setup.status_code}")

client = ApiClient(base_url, identity)
for n in range(seed):
    client.submit(seal(identity, identity.public_key, f"seed {n}".encode()))
if seed:
    client.submit_batch(seal_shared(identity, [identity.public_key] * 2, b"seed batch"))
stored = seed + 2 if seed else 0  # the batch: two inbox entries (and one sentbox entry)
deadline = time.monotonic() + 60
while seed and len(client.inbox(limit=stored)[0]) < stored:
    if time.monotonic() > deadline:
        sys.exit(f"the worker did not store the {seed} seeded envelopes and the batch within a minute")
    time.sleep(0.1)  # polling a condition with a deadline, not synchronising on time
if seed and sum(r.is_batch for r in client.inbox(limit=stored)[0]) != 2:
    sys.exit("the inbox does not list the seeded batch's two entries")
if seed:
    client.mark_read(client.inbox(limit=1)[0][0].id)

schema = schemathesis.openapi.from_path(document)
requests_made = 0
by_operation = collections.Counter()
statuses = collections.Counter()
failures = []


def run(operation, mode):
    checks = CHECKS + ([negative_data_rejection] if mode is GenerationMode.NEGATIVE else [])

    @hypothesis.settings(max_examples=examples, deadline=None, database=None, derandomize=True,
                         suppress_health_check=list(hypothesis.HealthCheck),
                         phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate])
    @hypothesis.given(case=operation.as_strategy(generation_mode=mode))
    def test(case):
        global requests_made
        # A negative header component is schemathesis testing the authentication headers themselves: send
        # what it generated, unsigned (the server must answer 401). Otherwise sign, over what it generated.
        header_mode = case.meta.components.get(ParameterLocation.HEADER) if case.meta else None
        forged = header_mode is not None and header_mode.mode is GenerationMode.NEGATIVE
        response = case.call(base_url=base_url, session=session, auth=unsigned if forged else signed, timeout=30)
        requests_made += 1
        by_operation[operation.label] += 1
        statuses[str(response.status_code)] += 1
        try:
            case.validate_response(response, checks=checks, transport_kwargs={"base_url": base_url})
        except (Exception, BaseExceptionGroup) as error:  # a FailureGroup: one entry per failed check
            for failure in getattr(error, "exceptions", [error]):
                failures.append({
                    "operation": operation.label, "mode": mode.value, "status": response.status_code,
                    "check": type(failure).__name__, "message": str(failure)[:2000],
                    "request": {"method": response.request.method, "target": response.request.path_url},
                    "body": response.text[:500],
                })

    test()


for result in schema.get_all_operations():
    operation = result.ok()
    if operation.path in STREAMS:
        continue
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
        try:
            run(operation, mode)
        except hypothesis.errors.Unsatisfiable:
            pass  # no negative case exists for an operation without inputs

print(json.dumps({"requests": requests_made, "by_operation": dict(by_operation), "statuses": dict(statuses),
                  "failures": failures}))
