#!/usr/bin/env bash
# docker-compose.yml and Dockerfile pass the structural check; a broken compose file is rejected.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$TEST_ROOT" || exit 1
PY="$TEST_ROOT/.dev/venv/bin/python"
CHECK="Tests/scripts/check_compose.py"

# The real file: show the check's own report.
if "$PY" "$CHECK" docker-compose.yml; then _t_result 0 "docker-compose.yml passes check_compose.py"
else : >"$TEST_OUT"; _t_result 1 "docker-compose.yml passes check_compose.py"; fi

BAD_OUT="$(mktemp /tmp/mailroom-badcompose.XXXXXX)"
trap 'rm -f "$TEST_OUT" "$BAD_OUT"' EXIT
"$PY" "$CHECK" Tests/scripts/fixtures/bad-compose.yml >"$BAD_OUT" 2>&1
rc=$?
echo "exit code $rc" >"$TEST_OUT"
_t_result $((rc == 1 ? 0 : 1)) "broken compose file is rejected (exit 1)"
for what in "every service has image or build" "build contexts and Dockerfiles exist" \
    "depends_on targets exist" "named volumes are declared" "healthchecks have a test" \
    "ports are well-formed" "images are pinned" "kafka is KRaft" "migrate runs"; do
    check "broken compose file fails: $what" grep -q -- "^FAIL - $what" "$BAD_OUT"
done
finish compose-check
