"""`streamwise up --profile secure` as a user runs it: the whole platform over TLS with a login per
role, results as in the default profile, and no secret in any log."""

from __future__ import annotations

import json
import ssl
import stat
import subprocess
from pathlib import Path

import httpx
from cli_process import scratch_platform, streamwise_command
from tls_probe import s_client

ROLES = ("registry", "dashboard", "producer-clickstream", "pipeline-clickstream")


def secret_files(security: Path) -> list[Path]:
    """Every file of the security folder that must stay private: passwords, keys, the token, bundles."""
    return [
        p
        for p in security.rglob("*")
        if p.is_file() and (p.suffix in (".password", ".key", ".token") or p.name.endswith(".bundle.pem"))
    ]


def test_up_in_the_secure_profile(tmp_path: Path) -> None:
    """Setup: `up --profile secure --no-watch` on free ports with a scratch state folder (clickstream
    at 1,000 events/s), then `acl list`, then `down`.
    Invariant: the first windows are printed as in the default profile; Kafka, the registry and the
    dashboard each verify with openssl against the project's CA; the dashboard answers 401 without
    its token and 200 with it; the registry refuses an anonymous write (40101); each role is its own
    user with its own ACLs; every secret file is 0600 and no secret appears in any log or in what
    `up` printed; `down` stops everything."""
    state = tmp_path / "state"
    platform = scratch_platform(state)
    env = platform.env
    kafka_port, registry_port, dashboard_port = platform.kafka_port, platform.registry_port, platform.dashboard_port
    cmd = streamwise_command()
    security = state / "security"
    try:
        up = subprocess.run(
            [*cmd, "up", "--profile", "secure", "--no-watch", "--rate", "1000", "--wait", "420"],
            capture_output=True,
            text=True,
            env=env,
            timeout=720,
        )
        assert up.returncode == 0, up.stdout[-3000:] + up.stderr[-3000:]
        assert "first results" in up.stdout and "/page/0" in up.stdout
        assert f"https://127.0.0.1:{dashboard_port}" in up.stdout
        assert str(security / "dashboard.token") in up.stdout

        ca = security / "ca.pem"
        trust = ssl.create_default_context(cafile=str(ca))
        for port in (kafka_port, registry_port, dashboard_port):
            handshake = s_client(port, ca)
            assert handshake.verified, (port, handshake.output[-1500:])

        token = (security / "dashboard.token").read_text().strip()
        dashboard = f"https://127.0.0.1:{dashboard_port}/metrics"
        assert httpx.get(dashboard, verify=trust, timeout=30).status_code == 401
        answer = httpx.get(dashboard, verify=trust, headers={"Authorization": f"Bearer {token}"}, timeout=30)
        assert answer.status_code == 200
        write = httpx.post(
            f"https://127.0.0.1:{registry_port}/subjects/probe-value/versions",
            json={"schema": '"string"'},
            headers={"Content-Type": "application/vnd.schemaregistry.v1+json"},
            verify=trust,
            timeout=30,
        )
        assert (write.status_code, write.json()["error_code"]) == (401, 40101)

        acls = subprocess.run([*cmd, "acl", "list"], capture_output=True, text=True, env=env, timeout=300)
        assert acls.returncode == 0, acls.stderr
        for role in ROLES:
            assert role in acls.stdout
            assert (security / "users" / f"{role}.password").is_file()

        secrets = [p.read_text().strip() for p in secret_files(security) if p.suffix in (".password", ".token")]
        assert len(secrets) == len(ROLES) + 2  # the roles, admin, the dashboard token
        assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in secret_files(security))
        logs = {p.name: p.read_text(errors="replace") for p in (state / "logs").glob("*.log")}
        assert {"kafka.log", "registry.log", "dashboard.log", "generator.log", "pipeline.log"} <= set(logs)
        for secret in secrets:
            assert secret not in up.stdout + up.stderr + acls.stdout
            leaked = [name for name, text in logs.items() if secret in text]
            assert leaked == [], f"a secret is in {leaked}"
        assert json.loads((state / "kafka" / "topology.json").read_text())["secure"] is True
    finally:
        down = subprocess.run([*cmd, "down"], capture_output=True, text=True, env=env, timeout=180)
    assert down.returncode == 0, down.stderr
    assert list((state / "run").glob("*.pid")) == []
