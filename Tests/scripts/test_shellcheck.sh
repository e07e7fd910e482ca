#!/usr/bin/env bash
# The developer/CI scripts pass shellcheck (warnings and errors; scripts/bootstrap installs shellcheck).
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$TEST_ROOT" || exit 1

# SC2034 (unused variable): dev-stack's state keys are written through indirection.
for f in scripts/bootstrap scripts/dev-stack scripts/test scripts/demo .ci/run scripts/lib/common.sh Tests/scripts/*.sh; do
    check "shellcheck $f" shellcheck -S warning -e SC2034 "$f"
done
finish shellcheck
