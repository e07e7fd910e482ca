"""The command line, run as `python -m mailroom_client` in a subprocess (nothing else running)."""

from __future__ import annotations

import base64
import json
import os
import stat
import subprocess
import sys

import pytest

from conftest import CLIENT_DIR
from mailroom_client import Identity, Record, record_from_envelope, verify


def run(*args: str, stdin: bytes = b"", env: dict | None = None) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("MAILROOM_IDENTITY")}
    environment["PYTHONPATH"] = str(CLIENT_DIR) + os.pathsep + environment.get("PYTHONPATH", "")
    environment.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "mailroom_client", *args], input=stdin, capture_output=True, env=environment, timeout=60
    )


@pytest.fixture
def keys(tmp_path):
    alice, bob = tmp_path / "alice.key", tmp_path / "bob.key"
    out = {}
    for name, path in (("alice", alice), ("bob", bob)):
        result = run("keygen", "--out", str(path))
        assert result.returncode == 0, result.stderr
        out[name] = (path, result.stdout.decode().strip())
    return out


def test_keygen(tmp_path, keys):
    path, public = keys["alice"]
    assert public.startswith("bbaarei")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    identity = Identity.from_textile_string(path.read_text().strip())
    assert identity.public_key_string == public
    assert path.read_text().startswith("bbaareq") and public not in path.read_text()
    # Never overwrites.
    before = path.read_bytes()
    again = run("keygen", "--out", str(path))
    assert again.returncode == 1 and b"already exists" in again.stderr
    assert path.read_bytes() == before
    result = run("pubkey", "--identity", str(path))
    assert result.returncode == 0 and result.stdout.decode().strip() == public
    assert run("pubkey", "--identity", str(path), "--hex").stdout.decode().strip() == identity.public_key.hex()
    # The environment may name the file, or hold the key string.
    assert run("pubkey", env={"MAILROOM_IDENTITY_FILE": str(path)}).stdout.decode().strip() == public
    assert run("pubkey", env={"MAILROOM_IDENTITY": path.read_text()}).stdout.decode().strip() == public


def test_seal_verify_open(tmp_path, keys):
    (alice_key, alice_pub), (bob_key, bob_pub) = keys["alice"], keys["bob"]
    body = tmp_path / "body.txt"
    body.write_bytes(b"Hello Bob\n\x00\xff")
    envelope_file = tmp_path / "m.env"
    result = run("seal", "--identity", str(alice_key), "--to", bob_pub, "--body-file", str(body), "--out", str(envelope_file))
    assert result.returncode == 0, result.stderr
    message_id = result.stdout.decode().strip()
    assert len(message_id) == 26
    envelope = verify(envelope_file.read_bytes())
    assert envelope.id.text == message_id

    result = run("verify", str(envelope_file))
    assert result.returncode == 0
    assert result.stdout.decode().splitlines() == [f"id: {message_id}", f"sender: {alice_pub}", f"recipient: {bob_pub}"]

    # Body from stdin, JSON output.
    second = tmp_path / "m2.env"
    result = run("seal", "--identity", str(alice_key), "--to", bob_pub, "--out", str(second), "--json", stdin=b"")
    info = json.loads(result.stdout)
    assert info["recipient"] == bob_pub and info["bytes"] == 161 + 2 * 72 and len(info["id"]) == 26

    inbox = record_from_envelope(envelope, "inbox", read_at_ms=envelope.created_at_ms + 1)
    binary_file, json_file = tmp_path / "r.bin", tmp_path / "r.json"
    binary_file.write_bytes(inbox.to_binary())
    json_file.write_text(inbox.to_json())
    for source, stdin in ((str(binary_file), b""), (str(json_file), b""), ("-", inbox.to_binary()), ("-", inbox.to_json().encode())):
        result = run("open", source, "--identity", str(bob_key), stdin=stdin)
        assert result.returncode == 0, result.stderr
        assert result.stdout == body.read_bytes()
    result = run("open", str(json_file), "--identity", str(bob_key), "--json")
    out = json.loads(result.stdout)
    assert out == {
        "id": message_id, "sender": alice_pub, "recipient": bob_pub, "kind": "inbox",
        "created_at_ms": envelope.created_at_ms, "read_at_ms": envelope.created_at_ms + 1,
        "body_base64": base64.b64encode(body.read_bytes()).decode(),
    }
    # The sender opens the sentbox record, not the inbox one.
    sent = tmp_path / "s.bin"
    sent.write_bytes(record_from_envelope(envelope, "sentbox").to_binary())
    assert run("open", str(sent), "--identity", str(alice_key)).stdout == body.read_bytes()
    result = run("open", str(binary_file), "--identity", str(alice_key))
    assert result.returncode == 3 and result.stdout == b""
    assert result.stderr.decode().startswith("error: not_a_party: ")
    # The text form names the verified sender on stderr; --expect-sender refuses another signer.
    result = run("open", str(json_file), "--identity", str(bob_key))
    assert result.stderr.decode() == f"from {alice_pub}\n"
    assert run("open", str(json_file), "--identity", str(bob_key), "--expect-sender", alice_pub).returncode == 0
    result = run("open", str(json_file), "--identity", str(bob_key), "--expect-sender", bob_pub)
    assert result.returncode == 3 and result.stdout == b"" and "not the expected sender" in result.stderr.decode()
    # JSON Lines, as `mailroom inbox --records` prints them: the first record is opened.
    other = record_from_envelope(verify(second.read_bytes()), "inbox")
    lines = tmp_path / "records.jsonl"
    lines.write_text(inbox.to_json() + "\n" + other.to_json() + "\n")
    assert run("open", str(lines), "--identity", str(bob_key)).stdout == body.read_bytes()
    # A tampered record: exit 3 with its reason.
    tampered = tmp_path / "t.bin"
    damaged_record = bytearray(inbox.to_binary())
    damaged_record[-10] ^= 1
    tampered.write_bytes(bytes(damaged_record))
    result = run("open", str(tampered), "--identity", str(bob_key))
    assert result.returncode == 3 and result.stderr.decode().startswith("error: bad_signature: ")


def test_failures_name_the_reason(tmp_path, keys):
    (alice_key, _), (bob_key, bob_pub) = keys["alice"], keys["bob"]
    envelope_file = tmp_path / "m.env"
    run("seal", "--identity", str(alice_key), "--to", bob_pub, "--out", str(envelope_file), stdin=b"x")
    damaged = bytearray(envelope_file.read_bytes())
    damaged[-1] ^= 1
    bad = tmp_path / "bad.env"
    bad.write_bytes(bytes(damaged))
    result = run("verify", str(bad))
    assert result.returncode == 1 and result.stderr.decode().startswith("error: bad_signature: ")

    record = record_from_envelope(verify(envelope_file.read_bytes()), "inbox")
    tampered = json.loads(record.to_json())
    tampered["created_at_ms"] += 1
    result = run("open", "-", "--identity", str(bob_key), stdin=json.dumps(tampered).encode())
    assert result.returncode == 3 and result.stdout == b""
    assert result.stderr.decode().startswith("error: invalid_message_id: ")
    result = run("open", "-", "--identity", str(bob_key), stdin=b"mrec\x03")
    assert result.stderr.decode().startswith("error: unsupported_record_version: ")
    # Version 2 is a batch record, which this client reads: 5 bytes are not one.
    result = run("open", "-", "--identity", str(bob_key), stdin=b"mrec\x02")
    assert result.stderr.decode().startswith("error: invalid_record: ")
    result = run("open", "-", "--identity", str(bob_key), stdin=b"garbage")
    assert result.stderr.decode().startswith("error: invalid_record: ")

    result = run("seal", "--identity", str(alice_key), "--to", "bbaarei1notakey", "--out", str(tmp_path / "x"), stdin=b"x")
    assert result.returncode == 1 and result.stderr.decode().startswith("error: invalid_base32: ")
    result = run("seal", "--identity", str(alice_key), "--to", bob_pub, "--out", str(tmp_path / "y"), stdin=bytes(65537))
    assert result.returncode == 1 and result.stderr.decode().startswith("error: body_too_large: ")


def test_bad_identity_file_does_not_echo_the_key(tmp_path):
    identity = Identity.generate()
    text = identity.textile_string()
    broken = text[:-3] + ("a" if text[-3] != "a" else "b") + text[-2:]
    path = tmp_path / "broken.key"
    path.write_text(broken + "\n")
    path.chmod(0o644)
    result = run("pubkey", "--identity", str(path))
    assert result.returncode == 1
    err = result.stderr.decode()
    assert "readable by others" in err and "is not a private key string" in err
    assert broken not in err and text[:20] not in err
    result = run("pubkey")
    assert result.returncode == 1 and "no identity" in result.stderr.decode()


def test_no_private_key_option():
    result = run("seal", "--help")
    assert b"--identity" in result.stdout
    for option in (b"--key ", b"--private", b"--secret"):
        assert option not in result.stdout
