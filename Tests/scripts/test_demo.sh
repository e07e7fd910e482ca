#!/usr/bin/env bash
# scripts/demo without Swift (MAILROOM_SKIP_SWIFT=1), on the stack scripts/test started
# (MAILROOM_STACK from `dev-stack env`), with stand-in binaries for the migrate step.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$TEST_ROOT" || exit 1

if [[ -z "${MAILROOM_STACK:-}" || -z "${MAILROOM_DATABASE_URL:-}" ]]; then
    if [[ "${MAILROOM_TEST_REQUIRE_SERVICES:-}" == 1 ]]; then
        _t_result 1 "no stack in the environment (MAILROOM_TEST_REQUIRE_SERVICES=1)"
    else
        echo "skip - no stack in the environment (run under scripts/test, or eval \"\$(scripts/dev-stack env)\")"
    fi
    finish demo; exit
fi
export MAILROOM_SKIP_SWIFT=1
FAKE="$(mktemp -d /tmp/mailroom-fakebin.XXXXXX)"
trap 'rm -rf "$FAKE" "$TEST_OUT"' EXIT

check_output "demo runs every step and says where things run" "Stop +scripts/dev-stack down" scripts/demo
check_output "demo reuses the running stack" "stack '$MAILROOM_STACK' is already up" scripts/demo
check_output "demo shows the database URL" "PostgreSQL +$MAILROOM_DATABASE_URL" scripts/demo
check_output "demo notes the skipped Swift steps" "swift build skipped" scripts/demo

printf '#!/bin/sh\necho "Error: unknown command $1" >&2; exit 64\n' >"$FAKE/no-migrate"
chmod +x "$FAKE/no-migrate"
check_output "a binary without 'migrate' gets a clear note, not a failure" "no 'migrate' command yet" \
    env MAILROOM_BIN="$FAKE/no-migrate" scripts/demo

printf '#!/bin/sh\n[ "$2" = --help ] && exit 0\necho "fake migrate $1 against $MAILROOM_DATABASE_URL"\n' >"$FAKE/migrate-ok"
chmod +x "$FAKE/migrate-ok"
check_output "mailroom migrate runs with the stack's MAILROOM_DATABASE_URL" \
    "^fake migrate migrate against $MAILROOM_DATABASE_URL$" env MAILROOM_BIN="$FAKE/migrate-ok" scripts/demo

printf '#!/bin/sh\n[ "$2" = --help ] && exit 0\nexit 3\n' >"$FAKE/migrate-fails"
chmod +x "$FAKE/migrate-fails"
check_says "a failing migrate fails the demo with a message" "error: mailroom migrate failed" \
    env MAILROOM_BIN="$FAKE/migrate-fails" scripts/demo
check_fails "a failing migrate makes the demo exit non-zero" env MAILROOM_BIN="$FAKE/migrate-fails" scripts/demo
finish demo
