"""`serve --tls-cert --tls-key`: HTTPS only, with the certificate given (made here by trustme)."""

from __future__ import annotations

import ssl
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import trustme

from tests.e2e.conftest import Server
from tests.server.wire import ReadApi, pd_trigger
from tests.serverproc import MAIN, admin

pytestmark = pytest.mark.e2e


def test_serve_with_a_certificate_answers_https_and_accepts_an_event(tmp_path: Path) -> None:
    ca = trustme.CA()
    issued = ca.issue_cert("127.0.0.1", "localhost")
    cert, key = tmp_path / "server.pem", tmp_path / "server.key"
    for blob in issued.cert_chain_pems:
        blob.write_to_path(str(cert), append=True)
    issued.private_key_pem.write_to_path(str(key))
    routing_key = admin(tmp_path, "add-service", "shop")
    token = admin(tmp_path, "add-user", "ops")
    trusting = ssl.create_default_context()
    ca.configure_trust(trusting)

    server = Server(tmp_path, extra=("--tls-cert", str(cert), "--tls-key", str(key)))
    server.start(verify=False)  # readiness probe only; the checks below verify the certificate
    try:
        assert server.url.startswith("https://")
        with httpx.Client(base_url=server.url, verify=trusting, timeout=30) as client:
            response = client.post("/v2/enqueue", json=pd_trigger(routing_key, "tls-1", summary="over TLS"))
            assert response.status_code == 202, response.text
            assert response.json()["dedup_key"] == "tls-1"
            [incident] = ReadApi(client, token).incidents()
            assert incident["title"] == "over TLS"

        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            httpx.get(f"{server.url}/healthz", timeout=10)  # a certificate nobody vouched for
        with pytest.raises(httpx.TransportError):
            httpx.get(f"http://127.0.0.1:{server.port}/healthz", timeout=10)  # no clear text
    finally:
        server.stop()


def test_serve_refuses_a_certificate_without_its_key(tmp_path: Path) -> None:
    pem = tmp_path / "file.pem"
    pem.write_text("not used")

    done = subprocess.run(
        [sys.executable, str(MAIN), "serve", "--data-dir", str(tmp_path), "--tls-cert", str(pem)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert done.returncode != 0
    assert "--tls-cert and --tls-key go together" in done.stderr
