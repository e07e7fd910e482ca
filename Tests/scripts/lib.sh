# shellcheck shell=bash
# Tiny assertion helpers for the scripts' own tests. Source from a Tests/scripts/test_*.sh file.
#
#   check "what is expected" command args...     passes when the command exits 0
#   check_fails "what is expected" command...    passes when it exits non-zero
#   check_output "what" PATTERN command...       passes when it exits 0 and its output matches PATTERN (grep -E)
#   check_says "what" PATTERN command...         passes when its output matches PATTERN, whatever its exit code
#   finish NAME                                  prints `NAME: N passed, M failed`, returns non-zero on failures
#
# The output of each command goes to $TEST_OUT (shown on failure).

T_PASSED=0
T_FAILED=0
TEST_OUT="$(mktemp /tmp/mailroom-scripttest.XXXXXX)"
trap 'rm -f "$TEST_OUT"' EXIT

TEST_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)"

_t_result() { # RC(0=pass) DESCRIPTION
    if [[ $1 -eq 0 ]]; then
        T_PASSED=$((T_PASSED + 1))
        printf 'ok   - %s\n' "$2"
    else
        T_FAILED=$((T_FAILED + 1))
        printf 'FAIL - %s\n' "$2"
        if [[ -s "$TEST_OUT" ]]; then sed 's/^/       | /' "$TEST_OUT" | tail -n 40; fi
    fi
}
check() {
    local d=$1 rc=0
    shift
    "$@" >"$TEST_OUT" 2>&1 </dev/null || rc=1
    _t_result $rc "$d"
}
check_fails() {
    local d=$1 rc=0
    shift
    "$@" >"$TEST_OUT" 2>&1 </dev/null && rc=1
    _t_result $rc "$d"
}
check_output() {
    local d=$1 pat=$2 rc=0
    shift 2
    "$@" >"$TEST_OUT" 2>&1 </dev/null || rc=1
    [[ $rc -eq 0 ]] && { grep -Eq -- "$pat" "$TEST_OUT" || { rc=1; echo "(output does not match /$pat/)" >>"$TEST_OUT"; }; }
    _t_result $rc "$d"
}
check_says() {
    local d=$1 pat=$2 rc=0
    shift 2
    "$@" >"$TEST_OUT" 2>&1 </dev/null
    grep -Eq -- "$pat" "$TEST_OUT" || { rc=1; echo "(output does not match /$pat/)" >>"$TEST_OUT"; }
    _t_result $rc "$d"
}
finish() {
    printf '%s: %d passed, %d failed\n' "$1" "$T_PASSED" "$T_FAILED"
    [[ $T_FAILED -eq 0 ]]
}
