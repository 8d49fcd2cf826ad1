"""Master/slave replication between broker processes (storage spec §7)."""

from __future__ import annotations

from broker_core.remoting.blocking import BlockingRemotingClient
from broker_core.remoting.codes import RequestCode, ResponseCode
from tests.integration.ha.helpers import (
    commit_log_bytes,
    read_queue,
    runtime_max_offset,
    send,
    start_master,
    start_slave,
    wait_for,
)
from tests.support import admin
from tests.support.cluster import ServerGroup


def test_sync_master_replicates_to_its_slave_which_serves_reads_and_copies_metadata(
    servers: ServerGroup,
) -> None:
    namesrv = servers.namesrv()
    master = start_master(servers, namesrv, "SYNC_MASTER")
    admin.create_topic(master.addr, "HaTopic", queues=2)
    committed = admin.invoke(
        master.addr,
        RequestCode.UPDATE_CONSUMER_OFFSET,
        {"consumerGroup": "ha-group", "topic": "HaTopic", "queueId": "1", "commitOffset": "7"},
    )
    assert committed.code == ResponseCode.SUCCESS
    client = BlockingRemotingClient()
    try:
        # SYNC_MASTER without a slave: the message is stored but answered SLAVE_NOT_AVAILABLE
        assert send(client, master.addr, "HaTopic", b"m-alone").code == ResponseCode.SLAVE_NOT_AVAILABLE

        slave = start_slave(servers, namesrv)
        # the slave registers as brokerId 1 of the same broker name
        route = wait_for(
            lambda: (
                (r := admin.get_route(namesrv.addr, "HaTopic"))
                and len(r["brokerDatas"][0]["brokerAddrs"]) == 2
                and r
            ),
            what="slave in the route",
        )
        assert route["brokerDatas"][0]["brokerAddrs"] == {"0": master.addr, "1": slave.addr}

        # once the slave is connected, SYNC_MASTER sends succeed only with the slave's ack
        wait_for(lambda: send(client, master.addr, "HaTopic", b"m-first").code == ResponseCode.SUCCESS)
        sent = [b"m-alone", b"m-first"]
        for i in range(60):
            body = f"m-{i}".encode()
            resp = send(client, master.addr, "HaTopic", body, queue_id=i % 2)
            assert resp.code == ResponseCode.SUCCESS
            sent.append(body)
            # acknowledged => already on the slave
            assert runtime_max_offset(slave.addr) >= int((resp.ext_fields or {})["msgId"][-16:], 16)

        # the slave serves the reads (consume queues rebuilt by dispatch)
        got = wait_for(
            lambda: (
                (q0 := read_queue(client, slave.addr, "HaTopic", 0)) is not None
                and (q1 := read_queue(client, slave.addr, "HaTopic", 1)) is not None
                and len(q0) + len(q1) == len(sent)
                and q0 + q1
            ),
            what="all messages readable on the slave",
        )
        assert sorted(got) == sorted(sent)

        # metadata copied from the master
        topics = admin.invoke(slave.addr, RequestCode.GET_ALL_TOPIC_CONFIG).json_body()
        assert "HaTopic" in topics["topicConfigTable"]
        offsets = wait_for(
            lambda: admin.invoke(slave.addr, RequestCode.GET_ALL_CONSUMER_OFFSET).json_body()["offsetTable"]
        )
        assert offsets["HaTopic@ha-group"] == {"1": 7}

        # a slave refuses writes
        refused = send(client, slave.addr, "HaTopic", b"to-slave")
        assert refused.code == ResponseCode.SERVICE_NOT_AVAILABLE

        end = runtime_max_offset(master.addr)
        assert runtime_max_offset(slave.addr) == end
    finally:
        client.close()
    slave.stop()
    master.stop()
    assert master.store_dir is not None and slave.store_dir is not None
    assert commit_log_bytes(slave.store_dir, end) == commit_log_bytes(master.store_dir, end)
