"""RouteInfoManager: registration, slaves, removal, expiry and the topic queries (no I/O)."""

from __future__ import annotations

from broker_core.namesrv.routes import RegisterResult, RouteInfoManager
from broker_core.remoting.body import DataVersion, TopicConfig, TopicConfigSerializeWrapper

A0 = "10.0.0.1:10911"
A1 = "10.0.0.2:10911"
B0 = "10.0.0.3:10911"


def wrapper(counter: int, *topics: TopicConfig) -> TopicConfigSerializeWrapper:
    return TopicConfigSerializeWrapper(
        {t.topic_name: t for t in topics}, DataVersion(1000 + counter, counter)
    )


def setup_two_groups() -> RouteInfoManager:
    r = RouteInfoManager()
    r.register_broker(
        "C1", A0, "broker-a", 0, "ha-a:1", wrapper(1, TopicConfig("T", 4, 4), TopicConfig("Ta", 1, 1))
    )
    r.register_broker("C1", B0, "broker-b", 0, "ha-b:1", wrapper(1, TopicConfig("T", 2, 2)))
    return r


def test_master_registration_builds_route() -> None:
    r = setup_two_groups()
    route = r.pickup_topic_route_data("T")
    assert route is not None
    assert {q.broker_name: q.write_queue_nums for q in route.queue_datas} == {"broker-a": 4, "broker-b": 2}
    assert {b.broker_name: b.master_addr for b in route.broker_datas} == {"broker-a": A0, "broker-b": B0}
    assert r.pickup_topic_route_data("nope") is None


def test_slave_gets_master_addresses_and_adds_only_its_address() -> None:
    r = setup_two_groups()
    result = r.register_broker("C1", A1, "broker-a", 1, "ha-a2:1", wrapper(9, TopicConfig("SlaveOnly", 8, 8)))
    assert result == RegisterResult(ha_server_addr="ha-a:1", master_addr=A0)
    assert r.pickup_topic_route_data("SlaveOnly") is None  # slaves never change queue data
    route = r.pickup_topic_route_data("Ta")
    assert route is not None and dict(route.broker_datas[0].broker_addrs) == {0: A0, 1: A1}
    # a master gets nothing back
    assert r.register_broker("C1", A0, "broker-a", 0, "ha-a:1", None) == RegisterResult()


def test_orphan_slave_gets_no_master() -> None:
    r = RouteInfoManager()
    assert r.register_broker("C1", A1, "broker-a", 1, "ha", None) == RegisterResult()


def test_same_data_version_does_not_reapply_queue_data() -> None:
    r = setup_two_groups()
    assert r.change_write_perm("broker-a", wipe=True) == 2
    # keep-alive with the same version: the wiped permission stays
    r.register_broker(
        "C1", A0, "broker-a", 0, "ha-a:1", wrapper(1, TopicConfig("T", 4, 4), TopicConfig("Ta", 1, 1))
    )
    route = r.pickup_topic_route_data("Ta")
    assert route is not None and route.queue_datas[0].perm == 4
    # a new version re-applies the broker's table
    r.register_broker(
        "C1", A0, "broker-a", 0, "ha-a:1", wrapper(2, TopicConfig("T", 4, 4), TopicConfig("Ta", 1, 1))
    )
    route = r.pickup_topic_route_data("Ta")
    assert route is not None and route.queue_datas[0].perm == 6
    assert r.change_write_perm("broker-a", wipe=False) == 2
    assert r.change_write_perm("nobody", wipe=True) == 0


def test_address_re_registered_under_another_id_is_moved() -> None:
    r = setup_two_groups()
    r.register_broker("C1", A1, "broker-a", 1, "ha", None)
    r.unregister_broker("C1", A0, "broker-a", 0)
    r.register_broker("C1", A1, "broker-a", 0, "ha", wrapper(5, TopicConfig("T", 4, 4)))  # promoted
    assert dict(r.cluster_info().broker_addr_table["broker-a"].broker_addrs) == {0: A1}


def test_unregister_last_address_removes_name_and_empty_topics() -> None:
    r = setup_two_groups()
    r.unregister_broker("C1", A0, "broker-a", 0)
    assert r.pickup_topic_route_data("Ta") is None
    route = r.pickup_topic_route_data("T")
    assert route is not None and [q.broker_name for q in route.queue_datas] == ["broker-b"]
    assert list(r.cluster_info().cluster_addr_table["C1"]) == ["broker-b"]
    r.unregister_broker("C1", B0, "broker-b", 0)
    assert r.all_topics().topic_list == ()
    assert r.cluster_info().cluster_addr_table == {}


def test_channel_destroy_removes_brokers_of_that_channel_only() -> None:
    r = RouteInfoManager()
    ch_a, ch_b = object(), object()
    r.register_broker("C1", A0, "broker-a", 0, "ha", wrapper(1, TopicConfig("T")), channel=ch_a)
    r.register_broker("C1", B0, "broker-b", 0, "ha", wrapper(1, TopicConfig("T")), channel=ch_b)
    assert r.on_channel_destroy(ch_a) == [A0]
    assert r.on_channel_destroy(ch_a) == []
    route = r.pickup_topic_route_data("T")
    assert route is not None and [b.broker_name for b in route.broker_datas] == ["broker-b"]


def test_scan_not_active_expires_silent_brokers() -> None:
    r = RouteInfoManager()
    r.register_broker("C1", A0, "broker-a", 0, "ha", wrapper(1, TopicConfig("T")), channel="ch-a", now=100.0)
    r.register_broker("C1", B0, "broker-b", 0, "ha", wrapper(1, TopicConfig("U")), channel="ch-b", now=150.0)
    assert r.scan_not_active(120.0, now=200.0) == []
    r.touch(A0, now=200.0)  # QUERY_DATA_VERSION keep-alive
    expired = r.scan_not_active(120.0, now=300.0)
    assert [i.channel for i in expired] == ["ch-b"]
    assert r.pickup_topic_route_data("U") is None
    assert r.pickup_topic_route_data("T") is not None


def test_data_version_tracking() -> None:
    r = setup_two_groups()
    assert r.data_version_of(A0) == DataVersion(1001, 1)
    assert not r.is_topic_config_changed(A0, DataVersion(1001, 1))
    assert r.is_topic_config_changed(A0, DataVersion(1001, 2))
    assert r.is_topic_config_changed("unknown:1", DataVersion(1001, 1))
    assert r.data_version_of("unknown:1") is None


def test_topic_queries() -> None:
    r = setup_two_groups()
    r.register_broker("C2", "x:1", "broker-x", 0, "ha", wrapper(1, TopicConfig("X", topic_sys_flag=1)))
    r.register_broker("C2", "y:1", "broker-y", 0, "ha", wrapper(1, TopicConfig("Y", topic_sys_flag=2)))
    assert set(r.all_topics().topic_list) == {"T", "Ta", "X", "Y"}
    assert set(r.topics_by_cluster("C1").topic_list) == {"T", "Ta"}
    assert r.topics_by_cluster("nope").topic_list == ()
    system = r.system_topics()
    assert set(system.topic_list) == {"C1", "broker-a", "broker-b", "C2", "broker-x", "broker-y"}
    assert system.broker_addr == A0
    assert r.unit_topics(unit=True, unit_sub=None).topic_list == ("X",)
    assert r.unit_topics(unit=None, unit_sub=True).topic_list == ("Y",)
    assert r.unit_topics(unit=False, unit_sub=True).topic_list == ("Y",)


def test_delete_topic_everywhere_or_per_cluster() -> None:
    r = setup_two_groups()
    r.register_broker("C2", "x:1", "broker-x", 0, "ha", wrapper(1, TopicConfig("T")))
    r.delete_topic("T", "C1")
    route = r.pickup_topic_route_data("T")
    assert route is not None and [q.broker_name for q in route.queue_datas] == ["broker-x"]
    r.delete_topic("T")
    assert r.pickup_topic_route_data("T") is None
    r.delete_topic("never-existed", "C1")


def test_filter_servers_are_reported_in_route() -> None:
    r = RouteInfoManager()
    r.register_broker("C1", A0, "broker-a", 0, "ha", wrapper(1, TopicConfig("T")), ["f:1"])
    route = r.pickup_topic_route_data("T")
    assert route is not None and dict(route.filter_server_table) == {A0: ["f:1"]}
    r.register_broker("C1", A0, "broker-a", 0, "ha", wrapper(1, TopicConfig("T")), [])
    route = r.pickup_topic_route_data("T")
    assert route is not None and dict(route.filter_server_table) == {}
