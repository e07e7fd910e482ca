#!/usr/bin/env bash
# scripts/dev-stack on a stack of its own (selftest-<pid>) and free ports: up, up again, status, env,
# PostgreSQL and Tansu answer, pg-stop/pg-start keep data, down, down again, purge, port clash.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$TEST_ROOT" || exit 1
source scripts/lib/common.sh

DS="$TEST_ROOT/scripts/dev-stack"
read -r PGP KP XP < <(free_ports 3)
export MAILROOM_STACK="selftest-$$" MAILROOM_PG_PORT=$PGP MAILROOM_KAFKA_PORT=$KP
export MAILROOM_PG_FAST=1 MAILROOM_PG_SHARED_BUFFERS=128MB
STATE="$TEST_ROOT/.dev/stacks/$MAILROOM_STACK/state"
# Never leave this stack behind, whatever fails.
trap '"$DS" down --purge >/dev/null 2>&1; MAILROOM_STACK="$MAILROOM_STACK-clash" "$DS" down --purge >/dev/null 2>&1; rm -f "$TEST_OUT"' EXIT

# shellcheck disable=SC1090
state() { (source "$STATE" && eval "echo \$$1"); }
alive() { [[ -n "$1" && -r /proc/$1/cmdline && -n "$(tr -d '\0' </proc/$1/cmdline 2>/dev/null)" ]]; }
dead() { ! alive "$1"; }

check_fails "status before up: exit non-zero" "$DS" status
check_output "up starts postgres and kafka" "stack '$MAILROOM_STACK' is up" "$DS" up
PG_PID="$(state PG_PID)" KAFKA_PID="$(state KAFKA_PID)" PG_TMP="$(state PG_TMP)"
check "state records live pids" bash -c "$(declare -f alive); alive '$PG_PID' && alive '$KAFKA_PID'"
check "PostgreSQL data folder is under /tmp, owned by postgres" \
    bash -c "[[ '$PG_TMP' == /tmp/mailroom-pg.* && \$(stat -c %U '$PG_TMP') == postgres ]]"
check_output "up again is harmless and says so" "already up" "$DS" up
check "up again kept the same pids" bash -c "[[ \$(source '$STATE'; echo \$PG_PID/\$KAFKA_PID) == '$PG_PID/$KAFKA_PID' ]]"
check_output "status: both up, exit 0" "kafka +up +pid $KAFKA_PID +port $KP" "$DS" status
check_output "status lists postgres up" "postgres +up +pid $PG_PID +port $PGP" "$DS" status

check_output "env prints the database URL" "^export MAILROOM_DATABASE_URL=postgres://mailroom@127.0.0.1:$PGP/mailroom$" "$DS" env
check_output "env prints the brokers" "^export MAILROOM_BROKERS=127.0.0.1:$KP$" "$DS" env
check_output "env prints the stack name" "^export MAILROOM_STACK=$MAILROOM_STACK$" "$DS" env
check_output "env prints MAILROOM_DEV_STACK" "^export MAILROOM_DEV_STACK=$DS$" "$DS" env
export LD_LIBRARY_PATH=/some/where
eval "$("$DS" env)"
check "env puts .dev/lib first on LD_LIBRARY_PATH, keeping the rest" \
    test "$LD_LIBRARY_PATH" = "$TEST_ROOT/.dev/lib:/some/where"
check_output "PostgreSQL answers as role mailroom (superuser)" "^1\|mailroom\|on$" \
    psql -X "$MAILROOM_DATABASE_URL" -Atc "select 1, current_user, current_setting('is_superuser')"
check_output "PostgreSQL listens on 127.0.0.1 only" "^127.0.0.1$" \
    psql -X "$MAILROOM_DATABASE_URL" -Atc "show listen_addresses"
check_output "MAILROOM_PG_FAST=1 turned fsync off" "^off$" psql -X "$MAILROOM_DATABASE_URL" -Atc "show fsync"
check_output "Tansu answers a metadata request (librdkafka 2.16)" "^2\.16\.[0-9]+ brokers=1$" \
    "$TEST_ROOT/.dev/venv/bin/python" -c '
import confluent_kafka, sys
from confluent_kafka.admin import AdminClient
md = AdminClient({"bootstrap.servers": sys.argv[1]}).list_topics(timeout=5)
print(confluent_kafka.libversion()[0], "brokers=%d" % len(md.brokers))' "$MAILROOM_BROKERS"

# Fault injection the way integration tests will do it: $MAILROOM_DEV_STACK pg-stop / pg-start.
check "a table is created" psql -X -q "$MAILROOM_DATABASE_URL" -c "create table kept(x int); insert into kept values (7)"
# (with a minimal PATH, as a test runner's child process may have: runuser lives in /usr/sbin)
check_output "pg-stop stops PostgreSQL" "^postgres: stopped" env PATH=/usr/bin:/bin "$MAILROOM_DEV_STACK" pg-stop
check "PostgreSQL's old pid is gone" dead "$PG_PID"
check_fails "PostgreSQL refuses connections while stopped" psql -X "$MAILROOM_DATABASE_URL" -Atc "select 1"
check_says "status after pg-stop: postgres down, kafka up" "postgres +down" "$DS" status
check_fails "status after pg-stop exits non-zero" "$DS" status
check "kafka kept running through pg-stop" alive "$KAFKA_PID"
check_output "pg-start starts PostgreSQL again" "^postgres: up" env PATH=/usr/bin:/bin "$MAILROOM_DEV_STACK" pg-start
check_output "data survived pg-stop/pg-start" "^7$" psql -X "$MAILROOM_DATABASE_URL" -Atc "select x from kept"
check "status after pg-start: all up" "$DS" status

# Another stack on the same PostgreSQL port must fail clearly and start nothing.
check_output "a port clash is refused with a clear message" "port $PGP on 127.0.0.1 is already in use" \
    bash -c "MAILROOM_STACK='$MAILROOM_STACK-clash' MAILROOM_KAFKA_PORT=$XP '$DS' up; [[ \$? -ne 0 ]]"
check "the refused stack started nothing (no data folder)" \
    bash -c "! grep -qs '^PG_TMP=/' '$TEST_ROOT/.dev/stacks/$MAILROOM_STACK-clash/state'"
MAILROOM_STACK="$MAILROOM_STACK-clash" "$DS" down --purge >/dev/null 2>&1

# A port in TIME_WAIT (a broker that closed its connections first, then stopped) cannot be bound by Tansu,
# which does not set SO_REUSEADDR: up waits for it (up to 75 s); wait_bindable tells the two states apart.
read -r TW < <(free_ports 1)
python3 - "$TW" <<'PY'
import socket, sys, time
port = int(sys.argv[1])
server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("127.0.0.1", port))
server.listen(1)
client = socket.create_connection(("127.0.0.1", port))
accepted, _ = server.accept()
accepted.close()   # the server side closes first: its end (local port = port) goes to TIME_WAIT
time.sleep(0.1)
client.close()
server.close()
PY
check "a free port is bindable at once" wait_bindable "$XP" 0
check "a port in TIME_WAIT is not (checked for 1 s)" bash -c "$(declare -f wait_bindable); ! wait_bindable '$TW' 1 2>/dev/null"
check_output "waiting for it says why" "to be free \\(old connections in TIME_WAIT\\)" \
    bash -c "$(declare -f wait_bindable); wait_bindable '$TW' 0.6 2>&1; true"

# A crash: both killed with SIGKILL (their zombies may linger a while on this machine).
kill -9 "$(state PG_PID)" "$(state KAFKA_PID)" 2>/dev/null
sleep 0.2
check_says "after kill -9, status reports down" "postgres +down" "$DS" status
check_output "after kill -9, up starts both again" "stack '$MAILROOM_STACK' is up" "$DS" up
check_output "after kill -9 and up, the data is there" "^7$" psql -X "$MAILROOM_DATABASE_URL" -Atc "select x from kept"
KAFKA_PID="$(state KAFKA_PID)"

PG_PID="$(state PG_PID)"
check_output "down stops both" "stack '$MAILROOM_STACK': down" "$DS" down
check "down left no postgres or tansu process" bash -c "$(declare -f alive dead); dead '$PG_PID' && dead '$KAFKA_PID'"
check_output "down again is harmless" "not running" "$DS" down
check_fails "status after down exits non-zero" "$DS" status
check_says "status after down reports both down" "kafka +down" "$DS" status
check_output "up after down reuses the data" "^7$" \
    bash -c "'$DS' up >/dev/null && psql -X '$MAILROOM_DATABASE_URL' -Atc 'select x from kept'"
check_output "down --purge deletes the data folder" "deleted data folder $PG_TMP" "$DS" down --purge
check "purged: no data folder, no state" bash -c "[[ ! -e '$PG_TMP' && ! -e '$STATE' ]]"
check_output "down after purge is harmless" "nothing to stop" "$DS" down
check_fails "env of an unknown stack name with a slash is refused" env MAILROOM_STACK=../x "$DS" env
finish dev-stack
