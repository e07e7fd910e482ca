#!/usr/bin/env bash
# The run-time librdkafka arrangement the Swift binaries rely on: a C program compiled against Debian's
# librdkafka-dev headers, run with `scripts/dev-stack env`'s LD_LIBRARY_PATH, loads librdkafka 2.16 and
# gets metadata from the stack's Tansu broker. Needs MAILROOM_BROKERS and LD_LIBRARY_PATH from
# `eval "$(scripts/dev-stack env)"` (scripts/test sets them) and a C compiler.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$TEST_ROOT" || exit 1

skip_or_fail() {
    if [[ "${MAILROOM_TEST_REQUIRE_SERVICES:-}" == 1 ]]; then
        echo "$1" >"$TEST_OUT"; _t_result 1 "$1 (MAILROOM_TEST_REQUIRE_SERVICES=1)"
    else
        echo "skip - $1"
    fi
    finish rdkafka-runtime
    exit
}
[[ -n "${MAILROOM_BROKERS:-}" ]] || skip_or_fail "MAILROOM_BROKERS not set: no stack"
CC="$(command -v cc || command -v gcc || command -v clang || true)"
[[ -n "$CC" ]] || skip_or_fail "no C compiler"

BIN="$(mktemp /tmp/mailroom-rdkafka-md.XXXXXX)"
trap 'rm -f "$BIN" "$TEST_OUT"' EXIT
check "a C program builds against Debian's librdkafka-dev" bash -c \
    "'$CC' -x c -o '$BIN' Tests/scripts/fixtures/rdkafka_metadata.c \$(pkg-config --cflags --libs rdkafka)"
check_output "with the stack's LD_LIBRARY_PATH it loads librdkafka 2.16 and gets metadata from Tansu" \
    "^librdkafka 2\.16\.[0-9]+: metadata Success, brokers 1$" "$BIN" "$MAILROOM_BROKERS"
finish rdkafka-runtime
