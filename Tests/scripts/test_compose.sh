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
    "ports are well-formed" "images are pinned" "kafka is KRaft" "migrate runs" "worker runs" \
    "worker environment matches"; do
    check "broken compose file fails: $what" grep -q -- "^FAIL - $what" "$BAD_OUT"
done
check "broken compose file: the typo'd worker setting is named" grep -q "MAILROOM_WORKER_BATCHSIZE is set but" "$BAD_OUT"
check "broken compose file: the missing bind-mount folder is named" grep -q "no-such-init-folder does not exist" "$BAD_OUT"

# The worker's settings list must cover what its source reads: a copy of the sources whose WorkerCommand
# reads one more variable fails the real compose file, naming that variable.
SRC_COPY="$(mktemp -d /tmp/mailroom-src.XXXXXX)"
trap 'rm -rf "$TEST_OUT" "$BAD_OUT" "$SRC_COPY"' EXIT
mkdir -p "$SRC_COPY/Sources/MailroomCLI/Commands" "$SRC_COPY/Sources/MailroomCLISupport"
cp Sources/MailroomCLI/Commands/WorkerSetting.swift Sources/MailroomCLI/Commands/WorkerCommand.swift \
    "$SRC_COPY/Sources/MailroomCLI/Commands/"
cp Sources/MailroomCLISupport/DatabaseOptions.swift Sources/MailroomCLISupport/KafkaOptions.swift \
    Sources/MailroomCLISupport/Secrets.swift "$SRC_COPY/Sources/MailroomCLISupport/"
echo 'let unlisted = ProcessInfo.processInfo.environment["MAILROOM_WORKER_SECRET_KNOB"]' \
    >>"$SRC_COPY/Sources/MailroomCLI/Commands/WorkerCommand.swift"
MAILROOM_SOURCE_ROOT="$SRC_COPY" "$PY" "$CHECK" docker-compose.yml >"$BAD_OUT" 2>&1
check "a variable read but not listed in WorkerSetting.swift fails the check" \
    grep -q "reads MAILROOM_WORKER_SECRET_KNOB, which" "$BAD_OUT"
# ... and a listed setting the command no longer reads fails it too.
cp Sources/MailroomCLI/Commands/WorkerCommand.swift "$SRC_COPY/Sources/MailroomCLI/Commands/"
sed -i 's/\.mailboxQuota\b/.somethingElse/g' "$SRC_COPY/Sources/MailroomCLI/Commands/WorkerCommand.swift"
MAILROOM_SOURCE_ROOT="$SRC_COPY" "$PY" "$CHECK" docker-compose.yml >"$BAD_OUT" 2>&1
check "a listed setting the worker never reads fails the check" \
    grep -q "never reads WorkerSetting.mailboxQuota" "$BAD_OUT"

# The image must carry the tested librdkafka 2.16, not Debian's 2.0.2: a Dockerfile that installs librdkafka1
# and drops the library path fails, saying both.
DF_COPY="$(mktemp -d /tmp/mailroom-dockerfile.XXXXXX)"
trap 'rm -rf "$TEST_OUT" "$BAD_OUT" "$SRC_COPY" "$DF_COPY"' EXIT
cp docker-compose.yml "$DF_COPY/"
cp -r deploy "$DF_COPY/"
sed -e 's/libsodium23 libpq5/libsodium23 librdkafka1 libpq5/' -e '/^ENV LD_LIBRARY_PATH/d' Dockerfile >"$DF_COPY/Dockerfile"
"$PY" "$CHECK" "$DF_COPY/docker-compose.yml" >"$BAD_OUT" 2>&1
check "a Dockerfile with Debian's librdkafka1 fails the check" grep -q "installs Debian's librdkafka1" "$BAD_OUT"
check "a Dockerfile without the library path fails the check" grep -q "does not put /usr/local/lib/mailroom on LD_LIBRARY_PATH" "$BAD_OUT"
finish compose-check
