"""TLS and plaintext on the proxy's one port (Apache's permissive mode): both kinds of client work."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import pytest

from broker_core.proxy.v2 import definition_pb2 as pb
from broker_core.proxy.v2 import service_pb2 as spb
from broker_core.proxy.v2 import service_pb2_grpc as rpc
from tests.integration.proxy.conftest import ProxyCluster, start_proxy
from tests.integration.proxy.test_rmq5_basic import receive_all
from tests.support.cluster import ServerGroup
from tests.support.process import ServerProcess
from tests.support.rmq5 import Rmq5Client

pytestmark = pytest.mark.slow


def self_signed(tmp: Path) -> tuple[Path, Path]:
    cert, key = tmp / "cert.pem", tmp / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
            "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
        ],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return cert, key


@pytest.fixture(scope="module")
def tls_proxy(
    proxy_cluster: ProxyCluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ServerProcess, Path]]:
    tmp = tmp_path_factory.mktemp("tls")
    cert, key = self_signed(tmp)
    group = ServerGroup(tmp)
    try:
        yield (
            start_proxy(group, proxy_cluster.namesrv, tmp, "--tls-cert", str(cert), "--tls-key", str(key)),
            cert,
        )
    finally:
        group.close()


def query_route(channel: grpc.Channel, topic: str) -> int:
    req = spb.QueryRouteRequest()
    req.topic.name = topic
    return int(rpc.MessagingServiceStub(channel).QueryRoute(req, timeout=10).status.code)


def test_tls_and_plaintext_share_one_port(
    proxy_cluster: ProxyCluster, tls_proxy: tuple[ServerProcess, Path]
) -> None:
    proxy, cert = tls_proxy
    topic = proxy_cluster.topic("Tls")
    creds = grpc.ssl_channel_credentials(root_certificates=cert.read_bytes())
    with grpc.secure_channel(proxy.addr, creds) as secure:
        assert query_route(secure, topic) == pb.OK
    with grpc.insecure_channel(proxy.addr) as plain:
        assert query_route(plain, topic) == pb.OK


def test_5x_client_over_tls_to_plaintext_consumer(
    proxy_cluster: ProxyCluster, tls_proxy: tuple[ServerProcess, Path], rmq5: Callable[..., Rmq5Client]
) -> None:
    proxy, cert = tls_proxy
    topic = proxy_cluster.topic("TlsClient")
    producer = rmq5(proxy.addr, tls=True, env={"GRPC_DEFAULT_SSL_ROOTS_FILE_PATH": str(cert)})
    producer.call("producer", topics=[topic])
    ids = producer.call("send", messages=[{"topic": topic, "body": f"s{i}"} for i in range(5)])["ids"]
    consumer = rmq5(proxy.addr)  # plaintext, same port
    consumer.call("simple", group="GTls", topic=topic)
    assert sorted(m["id"] for m in receive_all(consumer, 5)) == sorted(ids)
