#!/usr/bin/env python3
"""Structural check of docker-compose.yml and its Dockerfile (no Docker engine needed), and of the worker
service's environment against the settings the worker's source reads.

    .dev/venv/bin/python Tests/scripts/check_compose.py [COMPOSE_FILE]

Prints one line per check and a closing `compose: N passed, M failed`; exits 1 when any check fails.
Needs PyYAML (scripts/bootstrap puts it in .dev/venv).
"""
from __future__ import annotations

import os
import re
import sys

import yaml

DEPENDS_CONDITIONS = {"service_started", "service_healthy", "service_completed_successfully"}
# [ip:]host[-range]:container[-range][/proto] or a bare container port.
PORT_RE = re.compile(
    r"^(?:(?:\d{1,3}(?:\.\d{1,3}){3}|\[[0-9a-fA-F:]+\]):)?"
    r"(?:(\d+)(?:-(\d+))?:)?(\d+)(?:-(\d+))?(?:/(tcp|udp|sctp))?$"
)
# The worker's settings: one Swift file lists them; the files its command reads them in are scanned too.
# MAILROOM_SOURCE_ROOT points the check at another tree (Tests/scripts/test_compose.sh uses a doctored copy).
REPO = os.environ.get("MAILROOM_SOURCE_ROOT") or os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
WORKER_SETTINGS = "Sources/MailroomCLI/Commands/WorkerSetting.swift"
WORKER_READERS = [
    "Sources/MailroomCLI/Commands/WorkerCommand.swift",
    "Sources/MailroomCLISupport/DatabaseOptions.swift",
    "Sources/MailroomCLISupport/KafkaOptions.swift",
    "Sources/MailroomCLISupport/Secrets.swift",
]
# Read by the options and checks every command shares (DatabaseOptions, KafkaOptions, Secrets), by literal.
SHARED_SETTINGS = ("MAILROOM_DATABASE_URL", "MAILROOM_DATABASE_URL_FILE", "MAILROOM_BROKERS",
                   "MAILROOM_KAFKA_PROPERTIES_FILE", "MAILROOM_DEVELOPMENT")
# Without these the worker cannot start, or its metrics port is unreachable from outside its container.
WORKER_REQUIRED = ["MAILROOM_DATABASE_URL", "MAILROOM_BROKERS", "MAILROOM_WORKER_METRICS_PORT",
                   "MAILROOM_WORKER_METRICS_HOST"]
KAFKA_ENV = [
    "KAFKA_NODE_ID", "KAFKA_PROCESS_ROLES", "KAFKA_LISTENERS", "KAFKA_ADVERTISED_LISTENERS",
    "KAFKA_CONTROLLER_QUORUM_VOTERS", "KAFKA_CONTROLLER_LISTENER_NAMES",
    "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP", "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR",
]


class Checks:
    def __init__(self) -> None:
        self.passed = 0
        self.failed = 0

    def check(self, name: str, problems: list[str]) -> None:
        if problems:
            self.failed += 1
            print(f"FAIL - {name}")
            for p in problems:
                print(f"       {p}")
        else:
            self.passed += 1
            print(f"ok   - {name}")


def env_dict(env) -> dict:
    if isinstance(env, dict):
        return {str(k): v for k, v in env.items()}
    out = {}
    for item in env or []:
        k, _, v = str(item).partition("=")
        out[k] = v
    return out


def port_ok(p) -> bool:
    if isinstance(p, int):
        return 0 < p < 65536
    if isinstance(p, dict):  # long syntax
        t = p.get("target")
        return isinstance(t, int) and 0 < t < 65536
    m = PORT_RE.match(str(p))
    return bool(m) and all(0 < int(g) < 65536 for g in m.groups()[:4] if g is not None)


def dockerfile_problems(path: str) -> list[str]:
    text = open(path, encoding="utf-8").read()
    froms = re.findall(r"^FROM\s+(\S+)(?:\s+AS\s+(\S+))?", text, re.M | re.I)
    problems = []
    if len(froms) < 2:
        problems.append(f"{path}: expected a multi-stage build, found {len(froms)} FROM line(s)")
        return problems
    if not re.match(r"^swift:6\.\d+(?:\.\d+)?-bookworm$", froms[0][0]):
        problems.append(f"{path}: build stage should be swift:6.x-bookworm, is {froms[0][0]}")
    if froms[-1][0] != "debian:bookworm-slim":
        problems.append(f"{path}: runtime stage should be debian:bookworm-slim, is {froms[-1][0]}")
    if "swift build -c release --product mailroom" not in text:
        problems.append(f"{path}: no `swift build -c release --product mailroom`")
    runtime_start = text.rfind(froms[-1][0])
    runtime = text[runtime_start:]
    users = re.findall(r"^USER\s+(\S+)", runtime, re.M)
    if not users or users[-1] in ("root", "0"):
        problems.append(f"{path}: runtime stage must end with a non-root USER")
    for pkg in ("libsodium23", "libpq5"):
        if pkg not in runtime:
            problems.append(f"{path}: runtime stage does not install {pkg}")
    # librdkafka: the tested 2.16 from the confluent-kafka wheel at the scripts' pin, not Debian's 2.0.2.
    stages = {alias.lower(): image for image, alias in froms if alias}
    if "librdkafka1" in runtime:
        problems.append(f"{path}: runtime stage installs Debian's librdkafka1 (2.0.2); it should carry 2.16")
    if "librdkafka" not in stages:
        problems.append(f"{path}: no `librdkafka` stage extracting the library from the confluent-kafka wheel")
    else:
        stage = text[text.find(f"FROM {stages['librdkafka']}"):runtime_start]
        if "scripts/lib/requirements-dev.txt" not in stage or "confluent-kafka==" not in stage:
            problems.append(f"{path}: the librdkafka stage should take the confluent-kafka pin from scripts/lib/requirements-dev.txt")
    copied = re.search(r"^COPY\s+--from=librdkafka\s+\S+\s+(\S+)/librdkafka\.so\.1\s*$", runtime, re.M)
    if not copied:
        problems.append(f"{path}: runtime stage does not copy librdkafka.so.1 from the librdkafka stage")
    else:
        folder = copied.group(1)
        if not re.search(rf"^ENV\s+LD_LIBRARY_PATH={re.escape(folder)}\b", runtime, re.M):
            problems.append(f"{path}: runtime stage does not put {folder} on LD_LIBRARY_PATH")
    if not re.search(r"^COPY\s+(?:--\S+\s+)*Migrations\b", runtime, re.M):
        problems.append(f"{path}: runtime stage does not copy Migrations/")
    return problems


def worker_settings() -> tuple[dict[str, str], list[str]]:
    """The worker's settings as {variable: case name}, and problems found cross-checking them with the sources."""
    problems = []
    try:
        text = open(os.path.join(REPO, WORKER_SETTINGS), encoding="utf-8").read()
    except OSError as e:
        return {}, [f"cannot read {WORKER_SETTINGS}: {e}"]
    settings = {var: case for case, var in re.findall(r'^\s*case\s+(\w+)\s*=\s*"(MAILROOM_[A-Z0-9_]+)"', text, re.M)}
    if not settings:
        problems.append(f"{WORKER_SETTINGS}: no `case name = \"MAILROOM_…\"` found")
    command = ""
    for path in WORKER_READERS:
        try:
            source = open(os.path.join(REPO, path), encoding="utf-8").read()
        except OSError as e:
            problems.append(f"cannot read {path}: {e}")
            continue
        if path.endswith("WorkerCommand.swift"):
            command = source
        # Every variable the worker's code names literally must be in the list ...
        for var in sorted(set(re.findall(r'"(MAILROOM_[A-Z0-9_]+)"', source))):
            if var not in settings:
                problems.append(f"{path} reads {var}, which {WORKER_SETTINGS} does not list")
    # ... and every listed one the command itself reads must really be read there.
    for var, case in settings.items():
        if var in SHARED_SETTINGS:
            continue  # read by DatabaseOptions / KafkaOptions / Secrets, checked above by literal
        if not re.search(rf"\.{case}\b", command):
            problems.append(f"WorkerCommand.swift never reads WorkerSetting.{case} ({var})")
    return settings, problems


def worker_problems(services: dict) -> list[str]:
    w = services.get("worker")
    if not w:
        return ["no worker service"]
    problems = []
    cmd = w.get("command")
    words = cmd.split() if isinstance(cmd, str) else list(cmd or [])
    if not words or os.path.basename(str(words[0])) != "mailroom" or "worker" not in words[1:]:
        problems.append(f"worker: command should run `mailroom worker`, is {cmd!r}")
    if not w.get("build"):
        problems.append("worker: should be built from the Dockerfile")
    deps = w.get("depends_on") if isinstance(w.get("depends_on"), dict) else {}
    for target, cond in (("kafka", "service_healthy"), ("postgres", "service_healthy"),
                         ("migrate", "service_completed_successfully")):
        if (deps.get(target) or {}).get("condition") != cond:
            problems.append(f"worker: should depend on {target} with condition {cond}")
    if not w.get("healthcheck"):
        problems.append("worker: has no healthcheck")
    return problems


def worker_env_problems(services: dict) -> list[str]:
    settings, problems = worker_settings()
    w = services.get("worker")
    if not w:
        return problems + ["no worker service"]
    env = env_dict(w.get("environment"))
    for var in env:
        if var.startswith("MAILROOM_") and settings and var not in settings:
            problems.append(f"worker: {var} is set but the worker does not read it")
    for var in WORKER_REQUIRED:
        if var not in env:
            problems.append(f"worker: {var} not set")
    if "MAILROOM_WORKER_METRICS_HOST" in env and str(env["MAILROOM_WORKER_METRICS_HOST"]) not in ("0.0.0.0", "::"):
        problems.append("worker: MAILROOM_WORKER_METRICS_HOST must be 0.0.0.0, or the published port reaches nothing")
    port = str(env.get("MAILROOM_WORKER_METRICS_PORT", ""))
    if port:
        targets = set()
        for p in w.get("ports") or []:
            if isinstance(p, dict):
                targets.add(str(p.get("target")))
            else:
                m = PORT_RE.match(str(p))
                if m:
                    targets.add(m.group(3))
        if port not in targets:
            problems.append(f"worker: metrics port {port} is not published (container ports: {sorted(targets)})")
        hc = w.get("healthcheck") or {}
        if port not in str(hc.get("test", "")):
            problems.append(f"worker: healthcheck does not probe the metrics port {port}")
    return problems


def main() -> int:
    compose_path = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "docker-compose.yml")
    base = os.path.dirname(compose_path)
    c = Checks()

    try:
        with open(compose_path, encoding="utf-8") as f:
            doc = yaml.safe_load(f)
        problems = [] if isinstance(doc, dict) and isinstance(doc.get("services"), dict) and doc["services"] \
            else ["top level must be a mapping with a non-empty `services` mapping"]
    except (OSError, yaml.YAMLError) as e:
        doc, problems = None, [str(e)]
    c.check(f"{os.path.basename(compose_path)} parses, has services", problems)
    if problems:
        print(f"compose: {c.passed} passed, {c.failed} failed")
        return 1

    services: dict = doc["services"]
    declared_volumes = set((doc.get("volumes") or {}).keys())

    c.check("every service has image or build",
            [f"{n}: neither image nor build" for n, s in services.items()
             if not isinstance(s, dict) or not (s.get("image") or s.get("build"))])

    problems, dockerfiles = [], []
    for n, s in services.items():
        b = s.get("build")
        if b is None:
            continue
        ctx, df = (b, "Dockerfile") if isinstance(b, str) else (b.get("context", "."), b.get("dockerfile", "Dockerfile"))
        ctx_path = os.path.join(base, ctx)
        if not os.path.isdir(ctx_path):
            problems.append(f"{n}: build context {ctx} is not a folder")
        elif not os.path.isfile(os.path.join(ctx_path, df)):
            problems.append(f"{n}: Dockerfile {df} not found in {ctx}")
        else:
            dockerfiles.append(os.path.join(ctx_path, df))
    c.check("build contexts and Dockerfiles exist", problems)

    problems = []
    for n, s in services.items():
        deps = s.get("depends_on") or []
        items = deps.items() if isinstance(deps, dict) else ((d, None) for d in deps)
        for target, spec in items:
            if target not in services:
                problems.append(f"{n}: depends_on unknown service {target}")
            if target == n:
                problems.append(f"{n}: depends on itself")
            if isinstance(spec, dict):
                cond = spec.get("condition", "service_started")
                if cond not in DEPENDS_CONDITIONS:
                    problems.append(f"{n}: depends_on {target}: bad condition {cond}")
                if cond == "service_healthy" and target in services and not services[target].get("healthcheck"):
                    problems.append(f"{n}: waits for {target} healthy, but {target} has no healthcheck")
    c.check("depends_on targets exist, conditions valid", problems)

    problems = []
    for n, s in services.items():
        for v in s.get("volumes") or []:
            if isinstance(v, dict):
                src, kind = v.get("source"), v.get("type", "volume")
            else:
                src, kind = str(v).split(":")[0], "volume"
            if kind == "volume" and src and not src.startswith(("/", ".", "~", "$")) and src not in declared_volumes:
                problems.append(f"{n}: named volume {src} is not declared under top-level volumes")
            if kind in ("volume", "bind") and src and src.startswith(".") and not os.path.exists(os.path.join(base, src)):
                problems.append(f"{n}: bind-mounted {src} does not exist")
    c.check("named volumes are declared, bind mounts exist", problems)

    problems = []
    for n, s in services.items():
        hc = s.get("healthcheck")
        if hc is None:
            continue
        t = hc.get("test") if isinstance(hc, dict) else None
        if isinstance(t, str):
            ok = bool(t.strip())
        elif isinstance(t, list):
            ok = len(t) >= 2 and t[0] in ("CMD", "CMD-SHELL") or t == ["NONE"]
        else:
            ok = False
        if not ok:
            problems.append(f"{n}: healthcheck has no usable test: {t!r}")
    for n in ("postgres", "kafka"):
        if n in services and not services[n].get("healthcheck"):
            problems.append(f"{n}: has no healthcheck")
    c.check("healthchecks have a test", problems)

    c.check("ports are well-formed",
            [f"{n}: bad port {p!r}" for n, s in services.items() for p in (s.get("ports") or []) if not port_ok(p)])

    problems = []
    for n, s in services.items():
        img = s.get("image")
        if img and not s.get("build"):
            tag = img.rsplit("/", 1)[-1]
            if ":" not in tag and "@" not in tag:
                problems.append(f"{n}: image {img} has no tag")
            elif tag.endswith(":latest"):
                problems.append(f"{n}: image {img} is not pinned (latest)")
    c.check("images are pinned", problems)

    problems = []
    k = services.get("kafka")
    if not k:
        problems.append("no kafka service")
    else:
        env = env_dict(k.get("environment"))
        problems += [f"kafka: {v} missing" for v in KAFKA_ENV if v not in env]
        if "controller" not in str(env.get("KAFKA_PROCESS_ROLES", "")):
            problems.append("kafka: KAFKA_PROCESS_ROLES should include controller (KRaft, single node)")
        if not re.match(r"^apache/kafka:[34]\.\d+(\.\d+)?$", str(k.get("image", ""))):
            problems.append(f"kafka: image should be apache/kafka pinned to 3.x/4.x, is {k.get('image')}")
    p = services.get("postgres")
    if not p:
        problems.append("no postgres service")
    elif not str(p.get("image", "")).startswith("postgres:15"):
        problems.append(f"postgres: image should be postgres:15*, is {p.get('image')}")
    c.check("kafka is KRaft single-node; postgres is 15", problems)

    problems = []
    m = services.get("migrate")
    if not m:
        problems.append("no migrate service")
    else:
        cmd = m.get("command")
        words = cmd.split() if isinstance(cmd, str) else list(cmd or [])
        if not words or os.path.basename(str(words[0])) != "mailroom" or "migrate" not in words[1:]:
            problems.append(f"migrate: command should run `mailroom migrate`, is {cmd!r}")
        if "MAILROOM_DATABASE_URL" not in env_dict(m.get("environment")):
            problems.append("migrate: MAILROOM_DATABASE_URL not set")
        deps = m.get("depends_on")
        if not (isinstance(deps, dict) and (deps.get("postgres") or {}).get("condition") == "service_healthy"):
            problems.append("migrate: should depend on postgres with condition service_healthy")
        if not m.get("build"):
            problems.append("migrate: should be built from the Dockerfile")
    c.check("migrate runs `mailroom migrate` after postgres is healthy", problems)

    c.check("worker runs `mailroom worker` after kafka is healthy and migrate completed", worker_problems(services))
    c.check("worker environment matches the settings the worker reads", worker_env_problems(services))

    c.check("Dockerfile: multi-stage swift:6.x-bookworm -> debian:bookworm-slim, non-root, librdkafka 2.16",
            [p for d in dockerfiles for p in dockerfile_problems(d)] if dockerfiles else ["no service builds a Dockerfile"])

    print(f"compose: {c.passed} passed, {c.failed} failed")
    return 1 if c.failed else 0


if __name__ == "__main__":
    sys.exit(main())
