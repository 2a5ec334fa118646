"""Nothing of a streamwise Spark driver listens beyond this machine: the web UI, the driver's RPC, the
block manager and the Python gateway all bind loopback, even when the caller's SPARK_LOCAL_IP says
every interface (Spark's UI binds SPARK_LOCAL_IP, else 0.0.0.0).

The session runs in a child Python process: one process holds one SparkContext, and the test
session's own has its UI off."""

from __future__ import annotations

import ipaddress
import os
import subprocess
import sys
import textwrap
import time

import httpx
import psutil

from streamwise.config import Settings
from streamwise.platform.ports import free_ports

SAFETY_S = 180  # a bound for a Spark start on a busy machine, never expected to be reached

DRIVER = textwrap.dedent(
    """
    import sys
    from streamwise.config import load_settings
    from streamwise.platform.spark import spark_session

    state, cache, ui_port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    cfg = load_settings(
        state_dir=state,
        cache_dir=cache,
        spark={"master": "local[1]", "ui": True, "ui_port": ui_port, "driver_memory": "512m"},
    )
    spark = spark_session(cfg, app_name="streamwise-loopback-check")
    assert spark.range(100).selectExpr("sum(id)").first()[0] == 4950  # a job ran: every listener is up
    print("ready", flush=True)
    sys.stdin.read()  # until the test closes stdin
    spark.stop()
    """
)


def _loopback(ip: str) -> bool:
    address = ipaddress.ip_address(ip)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # a Java socket on a dual-stack system shows 127.0.0.1 as ::ffff:127.0.0.1
    return address.is_loopback


def test_every_listening_socket_of_the_driver_jvm_is_loopback(streamwise_settings: Settings, tmp_path) -> None:
    """Setup: a SparkSession made by spark_session with the UI on (a free port), in a process whose
    environment says SPARK_LOCAL_IP=0.0.0.0; one job run so the executor side is up too.
    Invariants: the driver's JVM listens on the UI port and answers on it; every LISTEN socket of the
    JVM (UI, RPC, block manager, gateway) is on a loopback address."""
    ui_port = free_ports(1)[0]
    env = {**os.environ, "SPARK_LOCAL_IP": "0.0.0.0"}
    child = subprocess.Popen(
        [sys.executable, "-c", DRIVER, str(tmp_path / "state"), str(streamwise_settings.cache), str(ui_port)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready", "the driver exited before its session was up"
        jvms = [p for p in psutil.Process(child.pid).children(recursive=True) if p.name() == "java"]
        assert len(jvms) == 1, jvms
        listening = _listening(jvms[0], ui_port)
        assert ui_port in {port for _, port in listening}
        assert [(ip, port) for ip, port in listening if not _loopback(ip)] == []
        assert httpx.get(f"http://127.0.0.1:{ui_port}/jobs/", timeout=10, follow_redirects=True).status_code == 200
    finally:
        if child.stdin is not None:
            child.stdin.close()
        try:
            child.wait(timeout=60)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def _listening(jvm: psutil.Process, ui_port: int) -> list[tuple[str, int]]:
    """The JVM's LISTEN sockets, once the UI's is among them (Jetty binds it while the context starts)."""
    deadline = time.monotonic() + SAFETY_S
    while True:
        found = [
            (conn.laddr.ip, conn.laddr.port)
            for conn in jvm.net_connections(kind="inet")
            if conn.status == psutil.CONN_LISTEN
        ]
        if ui_port in {port for _, port in found} or time.monotonic() > deadline:
            return found
        time.sleep(0.5)
