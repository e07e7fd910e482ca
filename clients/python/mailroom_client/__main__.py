"""``mailroom-py`` / ``python -m mailroom_client``: keys, sealing, verifying, opening records, submitting, and
the HTTP API (``mailroom-py api …``, docs/API.md).

Private keys are read from identity files (the private key string, as ``mailroom keygen`` writes them), or
from ``$MAILROOM_IDENTITY_FILE`` / ``$MAILROOM_IDENTITY``; never from a command-line argument, which every
user on the machine can see in ``ps``.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import stat
import sys
import tempfile
from typing import Sequence

from .api import ApiClient, ApiError
from .envelope import DEFAULT_MAX_BODY_BYTES, seal, verify
from .errors import EnvelopeError, MailroomKeyError
from .keys import Identity, parse_public_key, public_key_textile_string
from .records import parse_record


class CLIError(Exception):
    pass


def _read_file(path: str) -> bytes:
    if path == "-":
        return sys.stdin.buffer.read()
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as error:
        raise CLIError(f"cannot read {path}: {error.strerror}") from None


def _load_identity(path: str | None) -> Identity:
    path = path or os.environ.get("MAILROOM_IDENTITY_FILE") or None
    if path is not None:
        try:
            mode = os.stat(path).st_mode
        except OSError as error:
            raise CLIError(f"cannot read identity file {path}: {error.strerror}") from None
        if stat.S_IMODE(mode) & 0o077:
            print(
                f"mailroom-py: warning: identity file {path} is readable by others "
                f"(mode {stat.S_IMODE(mode):o}); chmod 600 it",
                file=sys.stderr,
            )
        text, source = _read_file(path).decode("utf-8", "replace"), path
    elif os.environ.get("MAILROOM_IDENTITY"):
        text, source = os.environ["MAILROOM_IDENTITY"], "$MAILROOM_IDENTITY"
    else:
        raise CLIError("no identity: pass --identity FILE, or set MAILROOM_IDENTITY_FILE or MAILROOM_IDENTITY")
    try:
        return Identity.from_textile_string(text.strip())
    except MailroomKeyError as error:
        # What is wrong with the string, never the string itself.
        raise CLIError(f"identity in {source} is not a private key string: {error}") from None


def _write_new_file(path: str, data: bytes, mode: int) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except FileExistsError:
        raise CLIError(f"{path} already exists; not overwriting it") from None
    except OSError as error:
        raise CLIError(f"cannot create {path}: {error.strerror}") from None
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def _print_json(value: object) -> None:
    print(json.dumps(value, separators=(",", ":")))


# --- commands ---------------------------------------------------------------------------------------------


def cmd_keygen(args: argparse.Namespace) -> int:
    identity = Identity.generate()
    _write_new_file(args.out, (identity.textile_string() + "\n").encode("ascii"), 0o600)
    if args.json:
        _print_json({"public_key": identity.public_key_string, "public_key_hex": identity.public_key_hex, "file": args.out})
    else:
        print(identity.public_key_string)
    return 0


def cmd_pubkey(args: argparse.Namespace) -> int:
    identity = _load_identity(args.identity)
    print(identity.public_key_hex if args.hex else identity.public_key_string)
    return 0


def cmd_seal(args: argparse.Namespace) -> int:
    identity = _load_identity(args.identity)
    recipient = parse_public_key(args.to.strip())
    body = _read_file(args.body_file) if args.body_file else sys.stdin.buffer.read()
    envelope = seal(identity, recipient, body, max_body_bytes=args.max_body_bytes)
    checked = verify(envelope, max_body_bytes=args.max_body_bytes)
    if args.out == "-":
        sys.stdout.buffer.write(envelope)
        sys.stdout.buffer.flush()
        return 0
    _write_new_file(args.out, envelope, 0o644)
    if args.json:
        _print_json({"id": checked.id.text, "recipient": public_key_textile_string(recipient), "bytes": len(envelope)})
    else:
        print(checked.id.text)
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    envelope = verify(_read_file(args.envelope), max_body_bytes=args.max_body_bytes)
    if args.json:
        _print_json(
            {
                "id": envelope.id.text,
                "sender": envelope.sender_string,
                "recipient": envelope.recipient_string,
                "created_at_ms": envelope.created_at_ms,
                "body_bytes": envelope.body_length,
            }
        )
    else:
        print(f"id: {envelope.id.text}")
        print(f"sender: {envelope.sender_string}")
        print(f"recipient: {envelope.recipient_string}")
    return 0


def cmd_open(args: argparse.Namespace) -> int:
    """Exit status 3 when the record does not parse, verify or open, as ``mailroom open`` does."""
    identity = _load_identity(args.identity)
    data = _read_file(args.record)
    if not data.startswith(b"mrec"):
        # JSON Lines (as `mailroom inbox --records` prints them): the first record.
        data = next((line for line in data.split(b"\n") if line.strip()), b"")
    expected = parse_public_key(args.expect_sender.strip()) if args.expect_sender else None
    try:
        record = parse_record(data)
        body = record.open(identity, max_body_bytes=args.max_body_bytes)
    except EnvelopeError as error:
        print(f"error: {error.reason}: {error.detail}", file=sys.stderr)
        return 3
    if expected is not None and expected != record.sender:
        print(f"error: the record verifies but was signed by {record.sender_string}, not the expected sender", file=sys.stderr)
        return 3
    if args.json:
        _print_json(
            {
                "id": record.id.text,
                "sender": record.sender_string,
                "recipient": record.recipient_string,
                "kind": record.kind,
                "created_at_ms": record.created_at_ms,
                "read_at_ms": record.read_at_ms,
                "body_base64": base64.b64encode(body).decode("ascii"),
            }
        )
    else:
        if expected is None:
            print(f"from {record.sender_string}", file=sys.stderr)
        sys.stdout.buffer.write(body)
        sys.stdout.buffer.flush()
    return 0


def cmd_submit(args: argparse.Namespace) -> int:
    from .kafka import DeliveryError, submit  # lazily: only this command needs confluent-kafka

    try:
        message_id, partition, offset = submit(
            _read_file(args.envelope), args.brokers, args.topic, max_body_bytes=args.max_body_bytes
        )
    except DeliveryError as error:
        raise CLIError(str(error)) from None
    if args.json:
        _print_json({"id": message_id, "topic": args.topic, "partition": partition, "offset": offset})
    else:
        print(f"{message_id} {args.topic}[{partition}]@{offset}")
    return 0


# --- the HTTP API -------------------------------------------------------------------------------------------


def _api_client(args: argparse.Namespace) -> ApiClient:
    url = args.url or os.environ.get("MAILROOM_API_URL")
    if not url:
        raise CLIError("no API URL: pass --url URL or set MAILROOM_API_URL")
    identity = _load_identity(args.identity)
    try:
        return ApiClient(url, identity, timeout=args.timeout)
    except ValueError as error:
        raise CLIError(str(error)) from None


def _record_object(record) -> dict:
    return json.loads(record.to_json())


def _write_record(directory: str, record) -> None:
    """DIR/<id>.json, the record's canonical JSON text, replaced atomically (a newer read_at overwrites)."""
    target = os.path.join(directory, record.id.text + ".json")
    fd, temporary = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=".json")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(record.to_json())
        os.replace(temporary, target)
    except BaseException:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise


def _print_page(args: argparse.Namespace, records, next_seek) -> int:
    if args.out_dir:
        try:
            os.makedirs(args.out_dir, exist_ok=True)
            for record in records:
                _write_record(args.out_dir, record)
        except OSError as error:
            raise CLIError(f"cannot write to {args.out_dir}: {error.strerror}") from None
    _print_json({"records": [_record_object(r) for r in records], "next_seek": next_seek})
    return 0


def cmd_api_setup(args: argparse.Namespace) -> int:
    _print_json(_api_client(args).setup_mailbox())
    return 0


def cmd_api_mailbox(args: argparse.Namespace) -> int:
    _print_json(_api_client(args).mailbox())
    return 0


def cmd_api_submit(args: argparse.Namespace) -> int:
    envelope = _read_file(args.envelope)
    _print_json(_api_client(args).submit(envelope))
    return 0


def cmd_api_inbox(args: argparse.Namespace) -> int:
    client = _api_client(args)
    return _print_page(args, *client.inbox(seek=args.seek, limit=args.limit, order=args.order, status=args.status))


def cmd_api_sentbox(args: argparse.Namespace) -> int:
    client = _api_client(args)
    return _print_page(args, *client.sentbox(seek=args.seek, limit=args.limit, order=args.order))


def cmd_api_read(args: argparse.Namespace) -> int:
    _print_json({"record": _record_object(_api_client(args).mark_read(args.id))})
    return 0


def cmd_api_delete(args: argparse.Namespace) -> int:
    client = _api_client(args)
    if args.sentbox:
        client.delete_sentbox(args.id)
    else:
        client.delete_inbox(args.id)
    _print_json({"deleted": args.id, "box": "sentbox" if args.sentbox else "inbox"})
    return 0


def cmd_api_unread(args: argparse.Namespace) -> int:
    _print_json({"unread": _api_client(args).unread()})
    return 0


# --- parser -----------------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mailroom-py", description="Mailroom envelopes and records from Python (docs/ENVELOPE.md)."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def identity_option(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--identity",
            "--from",
            dest="identity",
            metavar="FILE",
            help="file holding the private key string (default: $MAILROOM_IDENTITY_FILE, or $MAILROOM_IDENTITY)",
        )

    def limit_option(p: argparse.ArgumentParser) -> None:
        p.add_argument("--max-body-bytes", type=int, default=DEFAULT_MAX_BODY_BYTES, metavar="N", help=argparse.SUPPRESS)

    p = sub.add_parser("keygen", help="create an identity; save its private key string to a new file (mode 600)")
    p.add_argument("--out", "-o", required=True, metavar="FILE")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_keygen)

    p = sub.add_parser("pubkey", help="print an identity's public key string")
    identity_option(p)
    p.add_argument("--hex", action="store_true", help="print 64 hex digits instead")
    p.set_defaults(run=cmd_pubkey)

    p = sub.add_parser("seal", help="seal and sign a body into an envelope file")
    identity_option(p)
    p.add_argument("--to", required=True, metavar="KEY", help="recipient public key (bbaarei… or 64 hex digits)")
    p.add_argument("--body-file", metavar="FILE", help="the body (default: standard input)")
    p.add_argument("--out", "-o", required=True, metavar="FILE", help="envelope file to create ('-': stdout)")
    p.add_argument("--json", action="store_true")
    limit_option(p)
    p.set_defaults(run=cmd_seal)

    p = sub.add_parser("verify", help="verify an envelope file")
    p.add_argument("envelope", metavar="ENVELOPE_FILE")
    p.add_argument("--json", action="store_true")
    limit_option(p)
    p.set_defaults(run=cmd_verify)

    p = sub.add_parser("open", help="verify and open a record (binary or JSON; '-' reads standard input)")
    p.add_argument("record", metavar="RECORD_FILE")
    identity_option(p)
    p.add_argument("--expect-sender", metavar="KEY", help="refuse the record unless this key signed it")
    p.add_argument("--json", action="store_true")
    limit_option(p)
    p.set_defaults(run=cmd_open)

    p = sub.add_parser("submit", help="verify an envelope file, then produce it to Kafka")
    p.add_argument("envelope", metavar="ENVELOPE_FILE")
    p.add_argument("--brokers", required=True, metavar="HOST:PORT[,…]")
    p.add_argument("--topic", default="mailroom.envelopes")
    p.add_argument("--json", action="store_true")
    limit_option(p)
    p.set_defaults(run=cmd_submit)

    api = sub.add_parser("api", help="the HTTP API of `mailroom serve`: signed requests (docs/API.md)")

    def api_options(p: argparse.ArgumentParser, default) -> None:
        # On the group and on each command, so they may come before or after the command name.
        p.add_argument(
            "--url", default=default, metavar="URL", help="the API, e.g. http://127.0.0.1:8080 (default: $MAILROOM_API_URL)"
        )
        p.add_argument(
            "--identity",
            "--from",
            dest="identity",
            default=default,
            metavar="FILE",
            help="file holding the private key string (default: $MAILROOM_IDENTITY_FILE, or $MAILROOM_IDENTITY)",
        )
        p.add_argument("--timeout", type=float, default=10.0 if default is None else default, metavar="S", help=argparse.SUPPRESS)

    api_options(api, None)
    api_sub = api.add_subparsers(dest="api_command", required=True, metavar="API_COMMAND")

    def api_command(name: str, run, help: str) -> argparse.ArgumentParser:
        p = api_sub.add_parser(name, help=help)
        api_options(p, argparse.SUPPRESS)
        p.set_defaults(run=run)
        return p

    def page_options(p: argparse.ArgumentParser, status: bool) -> None:
        p.add_argument("--seek", metavar="ID", help="continue from this id (a previous next_seek)")
        p.add_argument("--limit", type=int, metavar="N")
        p.add_argument("--order", metavar="asc|desc")
        if status:
            p.add_argument("--status", metavar="STATUS", help="e.g. unread")
        p.add_argument("--out-dir", metavar="DIR", help="also write each record's JSON text to DIR/<id>.json")

    api_command("setup", cmd_api_setup, "PUT /v1/mailbox: set up this key's mailbox")
    api_command("mailbox", cmd_api_mailbox, "GET /v1/mailbox")
    p = api_command("submit", cmd_api_submit, "POST /v1/envelopes: submit an envelope file ('-': stdin)")
    p.add_argument("envelope", metavar="ENVELOPE_FILE")
    page_options(api_command("inbox", cmd_api_inbox, "GET /v1/inbox: one page of inbox records"), status=True)
    page_options(api_command("sentbox", cmd_api_sentbox, "GET /v1/sentbox: one page of sentbox records"), status=False)
    p = api_command("read", cmd_api_read, "POST /v1/inbox/ID/read: mark a message read")
    p.add_argument("id", metavar="ID")
    p = api_command("delete", cmd_api_delete, "DELETE /v1/inbox/ID (or /v1/sentbox/ID)")
    p.add_argument("id", metavar="ID")
    p.add_argument("--sentbox", action="store_true", help="delete from the sentbox instead")
    api_command("unread", cmd_api_unread, "GET /v1/inbox/unread")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except (EnvelopeError, MailroomKeyError) as error:
        print(f"error: {error.reason}: {error.detail}", file=sys.stderr)
        return 1
    except ApiError as error:
        print(f"error: {error.code}: {error.message}", file=sys.stderr)
        return 1
    except CLIError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        return 1
    except (OSError, http.client.HTTPException) as error:
        if getattr(args, "command", None) != "api":
            raise
        url = getattr(args, "url", None) or os.environ.get("MAILROOM_API_URL")
        print(f"error: unreachable: {url}: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
