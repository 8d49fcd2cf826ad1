"""Message queries through our client's Admin API against a real broker: by key, by offset msgId, by
unique key (client msgId), by timestamp. The C++ client wrapper (PyPI ``rocketmq`` 0.4.4) exposes no
query API (its library has ``MQClient::queryMessage`` internally but the C API and Python wrapper do
not export it), so there is no C++ variant.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from broker_core.message.model import Message, MessageQueue
from broker_core.remoting.codes import ResponseCode
from rocketmq_integration.client import Admin, Producer, SendStatus
from rocketmq_integration.errors import MQBrokerError
from tests.integration.client.helpers import CLIENT, create_topic, unique
from tests.support.cluster import Cluster


def test_query_by_key_msgid_uniq_key_and_time(cluster: Cluster) -> None:
    topic = unique("StoreQuery")

    async def scenario() -> None:
        await create_topic(cluster.namesrv_addr, cluster.broker_addr, topic, queues=2)
        sent = []
        async with Producer(
            unique("pg"), namesrv_addr=cluster.namesrv_addr, client_config=CLIENT
        ) as producer:
            t_before = int(time.time() * 1000)
            for i in range(40):
                msg = Message(topic, f"body-{i}".encode())
                msg.keys = [f"order-{i}", f"customer-{i % 4}"]
                msg.tags = "q"
                result = await producer.send(msg)
                assert result.status is SendStatus.SEND_OK
                sent.append(result)
                if i == 19:
                    await asyncio.sleep(0.05)
                    t_mid = int(time.time() * 1000)
            t_after = int(time.time() * 1000) + 1000
        async with Admin(cluster.namesrv_addr, client_config=CLIENT) as admin:
            # by key (several keys per message, several messages per key)
            got = await admin.query_message(topic, "order-7", 32, t_before - 1000, t_after)
            assert [m.body for m in got] == [b"body-7"]
            got = await admin.query_message(topic, "customer-1", 32, 0, t_after)
            assert sorted(m.body for m in got) == sorted(
                f"body-{i}".encode() for i in range(40) if i % 4 == 1
            )
            assert await admin.query_message(topic, "no-such-key", 32, 0, t_after) == []
            # the time range is honoured (index times have 1 s granularity, so only ranges far apart)
            assert await admin.query_message(topic, "order-7", 32, t_after + 60_000, t_after + 120_000) == []
            # by offset msgId (store host + commit-log offset)
            for r in (sent[0], sent[25], sent[-1]):
                m = await admin.view_message(r.offset_msg_id)
                assert m.offset_msg_id == r.offset_msg_id and m.msg_id == r.msg_id
                assert m.queue_offset == r.queue_offset
            bogus = sent[0].offset_msg_id[:16] + f"{10**12:016X}"
            with pytest.raises(MQBrokerError) as err:
                await admin.view_message(bogus)
            assert err.value.code == ResponseCode.SYSTEM_ERROR
            # by unique key (the client-generated msgId)
            for i in (3, 33):
                found = await admin.query_by_uniq_key(topic, sent[i].msg_id)
                assert found is not None and found.body == f"body-{i}".encode()
            assert await admin.query_by_uniq_key(topic, "0" * 32) is None
            # by timestamp: SEARCH_OFFSET_BY_TIMESTAMP on each queue
            for qid in range(2):
                mq = MessageQueue(topic, sent[0].message_queue.broker_name, qid)
                first_after_mid = min(
                    (r.queue_offset for r in sent[20:] if r.message_queue.queue_id == qid), default=None
                )
                assert first_after_mid is not None
                assert await admin.search_offset(mq, t_mid) == first_after_mid
                assert await admin.search_offset(mq, 0) == 0

    asyncio.run(asyncio.wait_for(scenario(), 60))
