# shellcheck shell=bash
# Shared helpers for Mailroom's developer and CI scripts. Source it; don't run it.
#
#   source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
#
# Defines MAILROOM_ROOT (the repository root), the paths of the project-local tool folder
# (.dev/, git-ignored) and small output helpers. Nothing here has side effects besides
# making sure the sbin folders and Swift's usual install folder are on PATH.

MAILROOM_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)"
MAILROOM_DEV_DIR="$MAILROOM_ROOT/.dev"
MAILROOM_VENV="$MAILROOM_DEV_DIR/venv"
MAILROOM_VENV_PY="$MAILROOM_VENV/bin/python"
MAILROOM_DEV_LIB="$MAILROOM_DEV_DIR/lib"
MAILROOM_STACKS_DIR="$MAILROOM_DEV_DIR/stacks"
MAILROOM_PG_BIN="${MAILROOM_PG_BIN:-/usr/lib/postgresql/15/bin}"
MAILROOM_SWIFT_HOME="${MAILROOM_SWIFT_HOME:-/opt/swift}"

# runuser, pg tools' helpers and apt live in sbin folders, which a minimal PATH may lack.
for _mr_d in /usr/local/sbin /usr/sbin /sbin; do
    [[ ":$PATH:" == *":$_mr_d:"* || ! -d "$_mr_d" ]] || PATH="$PATH:$_mr_d"
done
unset _mr_d
export PATH

# Swift lives at /opt/swift on the project's machines; a non-login shell (CI) may not have it on PATH.
if ! command -v swift >/dev/null 2>&1 && [[ -x "$MAILROOM_SWIFT_HOME/usr/bin/swift" ]]; then
    PATH="$MAILROOM_SWIFT_HOME/usr/bin:$PATH"
    export PATH
fi

if [[ -t 1 && -z "${NO_COLOR:-}" && "${TERM:-dumb}" != dumb ]]; then
    _mr_bold=$'\e[1m' _mr_red=$'\e[31m' _mr_yellow=$'\e[33m' _mr_reset=$'\e[0m'
else
    _mr_bold='' _mr_red='' _mr_yellow='' _mr_reset=''
fi

# A section header, so that a CI log reads well.
section() { printf '\n%s==> %s%s\n' "$_mr_bold" "$*" "$_mr_reset"; }
info() { printf '%s\n' "$*"; }
warn() { printf '%swarning:%s %s\n' "$_mr_yellow" "$_mr_reset" "$*" >&2; }
# die WHAT [WHY] [WHAT TO DO]: a clear failure, then exit 1.
die() {
    printf '%serror:%s %s\n' "$_mr_red" "$_mr_reset" "$1" >&2
    [[ $# -ge 2 && -n "$2" ]] && printf '  why: %s\n' "$2" >&2
    [[ $# -ge 3 && -n "$3" ]] && printf '  fix: %s\n' "$3" >&2
    exit 1
}

# The last lines of a log file, indented, for error messages.
log_tail() {
    local file=$1 lines=${2:-30}
    if [[ -s "$file" ]]; then
        printf -- '--- last %s lines of %s ---\n' "$lines" "$file" >&2
        tail -n "$lines" "$file" | sed 's/^/  | /' >&2
        printf -- '--- end of %s ---\n' "$file" >&2
    else
        printf '  (log %s is empty or missing)\n' "$file" >&2
    fi
}

is_true() { [[ "${1:-}" =~ ^(1|true|yes|on)$ ]]; }

# Run a command as root: directly when we are root, through sudo otherwise.
as_root() {
    if [[ $EUID -eq 0 ]]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo -- "$@"
    else
        die "need root for: $*" "you are not root and sudo is not installed" \
            "run the script as root, or install and configure sudo"
    fi
}

# A free TCP port on 127.0.0.1, chosen by the kernel (bind to port 0). Prints N ports, distinct.
free_ports() {
    python3 - "${1:-1}" <<'PY'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
for s in socks:
    s.close()
PY
}

# Waits up to SECONDS for 127.0.0.1:PORT to be bindable by a server that does not set SO_REUSEADDR (Tansu):
# a broker's closed connections keep its port in TIME_WAIT for a minute after it stops, and a client's
# ephemeral port can sit there too. Says once that it waits; fails when the time is up.
wait_bindable() { # PORT SECONDS
    python3 - "$1" "$2" <<'PY'
import socket, sys, time
port, deadline = int(sys.argv[1]), time.monotonic() + float(sys.argv[2])
said = False
while True:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", port))
        sys.exit(0)
    except OSError:
        if time.monotonic() >= deadline:
            sys.exit(1)
        if not said:
            print(f"waiting for 127.0.0.1:{port} to be free (old connections in TIME_WAIT)…", file=sys.stderr)
            said = True
        time.sleep(0.5)
    finally:
        s.close()
PY
}

# True when something accepts TCP connections on 127.0.0.1:PORT.
tcp_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
