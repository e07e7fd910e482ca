"""``mailroom-py`` / ``python -m mailroom_client``: keys, sealing, verifying, opening records, submitting.

Private keys are read from identity files (the private key string, as ``mailroom keygen`` writes them), or
from ``$MAILROOM_IDENTITY_FILE`` / ``$MAILROOM_IDENTITY``; never from a command-line argument, which every
user on the machine can see in ``ps``.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import stat
import sys
from typing import Sequence

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
    identity = _load_identity(args.identity)
    record = parse_record(_read_file(args.record))
    body = record.open(identity, max_body_bytes=args.max_body_bytes)
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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except (EnvelopeError, MailroomKeyError) as error:
        print(f"error: {error.reason}: {error.detail}", file=sys.stderr)
        return 1
    except CLIError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        return 1


if __name__ == "__main__":
    sys.exit(main())
