#!/usr/bin/env bash
# scripts/dev-stack with MAILROOM_KAFKA_TLS=1, on a broker-only stack of its own (kafkatls-<pid>, a free port):
# librdkafka 2.16 (the venv's confluent_kafka) produces and consumes a record over TLS with the settings of
# `dev-stack env` (MAILROOM_KAFKA_PROPERTIES_FILE, MAILROOM_KAFKA_CA); a client trusting another CA, and a
# plaintext client, are refused; kafka-stop/kafka-start/--kill handle Tansu and its TLS proxy together.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$TEST_ROOT" || exit 1
source scripts/lib/common.sh

DS="$TEST_ROOT/scripts/dev-stack"
PY="$TEST_ROOT/.dev/venv/bin/python"
read -r KP < <(free_ports 1)
unset MAILROOM_KAFKA_STORAGE MAILROOM_KAFKA_PROPERTIES_FILE MAILROOM_KAFKA_CA
export MAILROOM_STACK="kafkatls-$$" MAILROOM_KAFKA_PORT=$KP MAILROOM_KAFKA_TLS=1
STATE="$TEST_ROOT/.dev/stacks/$MAILROOM_STACK/state"
WORK="$(mktemp -d /tmp/mailroom-kafkatls.XXXXXX)"
# Never leave this stack behind, whatever fails.
trap '"$DS" down --purge >/dev/null 2>&1; rm -rf "$WORK" "$TEST_OUT"' EXIT

# shellcheck disable=SC1090
state() { (source "$STATE" && eval "echo \$$1"); }
alive() { [[ -n "$1" && -r /proc/$1/cmdline && -n "$(tr -d '\0' </proc/$1/cmdline 2>/dev/null)" ]]; }
dead() { ! alive "$1"; }

# client.py MODE BROKERS [key=value...]: MODE roundtrip produces one record and consumes it back (as a group
# member, the way the worker reads), printing "consumed <value>"; MODE refused expects no connection and prints
# "refused: <librdkafka's reason>" (exit 1 if it connected). Deadlines bound every wait; no sleeps.
cat >"$WORK/client.py" <<'PY'
import sys, time, uuid
from confluent_kafka import Consumer, KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic

mode, brokers = sys.argv[1], sys.argv[2]
conf = {"bootstrap.servers": brokers, "log_level": 0}
conf.update(setting.split("=", 1) for setting in sys.argv[3:])

if mode == "refused":
    errors = []
    client = Producer({**conf, "error_cb": lambda error: errors.append(error)})
    try:
        client.list_topics(timeout=5)
    except KafkaException:
        deadline = time.monotonic() + 5
        while not errors and time.monotonic() < deadline:
            client.poll(0.1)
        print("refused:", "; ".join(e.str() for e in errors) or "no reason given")
        sys.exit(0)
    sys.exit("connected: the broker was expected to refuse this client")

topic, value = "tls-" + uuid.uuid4().hex[:12], uuid.uuid4().hex.encode()
admin = AdminClient(conf)  # kept: the futures fail once the client is destroyed
for future in admin.create_topics([NewTopic(topic, 1, 1)]).values():
    future.result(10)
delivered = []
producer = Producer(conf)
producer.produce(topic, value=value, on_delivery=lambda error, message: delivered.append(error))
if producer.flush(15) != 0 or delivered != [None]:
    sys.exit(f"produce failed: {delivered}")
consumer = Consumer({**conf, "group.id": "g-" + topic, "auto.offset.reset": "earliest",
                     "session.timeout.ms": "6000", "heartbeat.interval.ms": "1000"})
consumer.subscribe([topic])
deadline = time.monotonic() + 30
try:
    while time.monotonic() < deadline:
        message = consumer.poll(0.5)
        if message is None:
            continue
        if message.error():
            raise KafkaException(message.error())
        if message.value() == value:
            print("consumed", message.value().decode())
            sys.exit(0)
    sys.exit("nothing consumed in 30 s")
finally:
    consumer.close()
PY
# The settings a librdkafka client reads from the properties file (key=value lines, # comments), as the CLI does.
properties() { grep -v '^[[:space:]]*#' "$1" | grep '='; }

check_output "kafka-start on a new stack starts a TLS broker" "^kafka: up .*TLS only on 127.0.0.1:$KP" "$DS" kafka-start
KAFKA_PID="$(state KAFKA_PID)" TLS_PID="$(state TLS_PID)"
check "state records live pids for Tansu and its TLS proxy" bash -c "$(declare -f alive); alive '$KAFKA_PID' && alive '$TLS_PID'"
check_says "status lists the TLS proxy up on the broker port" "kafka-tls +up +pid $TLS_PID +port $KP" "$DS" status
check "Tansu listens on another loopback port, advertising the TLS port" \
    bash -c "tr '\0' ' ' </proc/$KAFKA_PID/cmdline | grep -Eq -- '--listener-url tcp://127\.0\.0\.1:[0-9]+ --advertised-listener-url tcp://127\.0\.0\.1:$KP '"
check_output "env exports the broker's CA" "^export MAILROOM_KAFKA_CA=.*/kafka-ca\.crt$" "$DS" env
check_output "env exports a librdkafka properties file" "^export MAILROOM_KAFKA_PROPERTIES_FILE=.*/kafka-client\.properties$" "$DS" env
eval "$("$DS" env)"
check "the properties file is readable by its owner alone (the CLI refuses others)" \
    test "$(stat -c %a "$MAILROOM_KAFKA_PROPERTIES_FILE")" = 600
check "the properties file asks for TLS" grep -qx "security.protocol=SSL" "$MAILROOM_KAFKA_PROPERTIES_FILE"
check "the properties file trusts the stack's CA" grep -qxF "ssl.ca.location=$MAILROOM_KAFKA_CA" "$MAILROOM_KAFKA_PROPERTIES_FILE"
mapfile -t TLS_SETTINGS < <(properties "$MAILROOM_KAFKA_PROPERTIES_FILE")
check_output "a record is produced and consumed over TLS (librdkafka 2.16, properties file)" "^consumed [0-9a-f]{32}$" \
    "$PY" "$WORK/client.py" roundtrip "$MAILROOM_BROKERS" "${TLS_SETTINGS[@]}"
check_output "the same with localhost as bootstrap server and just the CA" "^consumed [0-9a-f]{32}$" \
    "$PY" "$WORK/client.py" roundtrip "localhost:$KP" security.protocol=SSL "ssl.ca.location=$MAILROOM_KAFKA_CA"

# A CA of its own, which did not sign the broker's certificate.
(cd "$WORK" && openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=Some other CA" \
    -keyout other-ca.key -out other-ca.crt) >/dev/null 2>&1
check_output "a client trusting another CA is refused: certificate verify failed" \
    "^refused: .*SSL handshake failed.*certificate verify failed" \
    "$PY" "$WORK/client.py" refused "$MAILROOM_BROKERS" security.protocol=SSL "ssl.ca.location=$WORK/other-ca.crt"
check_output "a plaintext client is refused" "^refused: " "$PY" "$WORK/client.py" refused "$MAILROOM_BROKERS"

# Fault injection: kafka-stop / kafka-start / kafka-stop --kill act on Tansu and its proxy together.
CA_SUM="$(sha256sum <"$MAILROOM_KAFKA_CA")"
check_output "kafka-stop stops the TLS proxy and Tansu" "^kafka: stopped" "$DS" kafka-stop
check "both are gone" bash -c "$(declare -f alive dead); dead '$KAFKA_PID' && dead '$TLS_PID'"
check_says "status reports the TLS proxy down" "kafka-tls +down" "$DS" status
check_output "kafka-start starts both again" "^kafka: up .*TLS only on 127.0.0.1:$KP" "$DS" kafka-start
check "the stack kept its CA" test "$(sha256sum <"$MAILROOM_KAFKA_CA")" = "$CA_SUM"
check_output "TLS works after the restart" "^consumed [0-9a-f]{32}$" \
    "$PY" "$WORK/client.py" roundtrip "$MAILROOM_BROKERS" "${TLS_SETTINGS[@]}"
KAFKA_PID="$(state KAFKA_PID)" TLS_PID="$(state TLS_PID)"
check_output "kafka-stop --kill stops both" "^kafka: stopped" "$DS" kafka-stop --kill
check "both are gone after --kill" bash -c "$(declare -f alive dead); dead '$KAFKA_PID' && dead '$TLS_PID'"

check_output "down --purge deletes the stack" "stack '$MAILROOM_STACK': purged" "$DS" down --purge
check "purged: no state, no certificates" test ! -e "$TEST_ROOT/.dev/stacks/$MAILROOM_STACK"
finish dev-stack-kafka-tls
