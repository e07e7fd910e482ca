"""Probes a running `mailroom serve` for rate limits, CORS and metrics; prints one JSON object.

Usage: python api_limits_probe.py URL REQUESTS  (two fresh keys; the first makes REQUESTS signed
GET /v1/mailbox calls at once, the second one call; then a CORS preflight and GET /metrics)."""
import http.client
import json
import sys
import urllib.parse

from mailroom_client.api import sign_request
from mailroom_client.keys import Identity

url, count = sys.argv[1], int(sys.argv[2])
parts = urllib.parse.urlsplit(url)


def request(method, target, headers=None, body=b""):
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    connection.request(method, target, body=body, headers=headers or {})
    response = connection.getresponse()
    data = response.read()
    result = {"status": response.status, "headers": {k.lower(): v for k, v in response.getheaders()}, "body": data.decode("utf-8", "replace")}
    connection.close()
    return result


flooder, other = Identity.generate(), Identity.generate()
statuses, retry_after, codes = [], [], []
for _ in range(count):
    answer = request("GET", "/v1/mailbox", sign_request(flooder, "GET", "/v1/mailbox"))
    statuses.append(answer["status"])
    if answer["status"] == 429:
        retry_after.append(answer["headers"].get("retry-after"))
        codes.append(json.loads(answer["body"])["error"]["code"])
other_status = request("GET", "/v1/mailbox", sign_request(other, "GET", "/v1/mailbox"))["status"]
allowed = request("OPTIONS", "/v1/inbox", {"Origin": "https://app.example", "Access-Control-Request-Method": "GET"})
refused = request("OPTIONS", "/v1/inbox", {"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"})
simple = request("GET", "/healthz", {"Origin": "https://app.example"})
metrics = request("GET", "/metrics")
print(json.dumps({
    "statuses": statuses, "retry_after": retry_after, "codes": codes, "other_status": other_status,
    "preflight_allowed": {"status": allowed["status"], "origin": allowed["headers"].get("access-control-allow-origin"),
                          "headers": allowed["headers"].get("access-control-allow-headers", "")},
    "preflight_refused": {"status": refused["status"], "origin": refused["headers"].get("access-control-allow-origin")},
    "simple_origin": simple["headers"].get("access-control-allow-origin"),
    "metrics_status": metrics["status"], "metrics": metrics["body"],
}))
