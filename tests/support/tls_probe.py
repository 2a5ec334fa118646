"""``openssl s_client`` as a test's independent witness that a local port speaks TLS with a certificate
the project's CA signed."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Handshake:
    """What ``openssl s_client`` said: its exit code and its whole output (handshake, chain, alerts)."""

    returncode: int
    output: str

    @property
    def verified(self) -> bool:
        """The chain verified against the CA given (openssl exits 0 and says so)."""
        return self.returncode == 0 and "Verify return code: 0 (ok)" in self.output


def s_client(port: int, ca: Path, *extra: str, timeout_s: float = 60) -> Handshake:
    """``openssl s_client -connect 127.0.0.1:PORT -CAfile CA -verify_return_error`` plus ``extra``
    (``-starttls postgres``, ...), with nothing to send."""
    result = subprocess.run(
        ["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-CAfile", str(ca), "-verify_return_error", *extra],
        input="",
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )
    return Handshake(result.returncode, result.stdout + result.stderr)
