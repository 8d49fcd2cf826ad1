"""Output helpers of the admin CLI: Java printf subset, version names, timestamps."""

from __future__ import annotations

import datetime

import pytest

from broker_core.admin.cli import build_parser
from broker_core.admin.cmd_group import parse_timestamp, version_desc
from broker_core.admin.registry import COMMANDS, front, jfmt, perm_string

MQADMIN_NAMES = {
    "updateTopic", "deleteTopic", "topicList", "topicRoute", "topicStatus", "updateSubGroup", "deleteSubGroup",
    "consumerProgress", "consumerConnection", "producerConnection", "resetOffsetByTime", "queryMsgById",
    "queryMsgByKey", "queryMsgByUniqueKey", "queryMsgByOffset", "sendMessage", "consumeMessage", "clusterList",
    "brokerStatus", "getBrokerConfig", "updateBrokerConfig", "updateAclConfig", "statsAll", "queryMsgTraceById",
}  # fmt: skip


def test_every_issue_command_is_registered() -> None:
    assert MQADMIN_NAMES <= set(COMMANDS)


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_help_for_every_command(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args([name, "--help"])
    assert exc.value.code == 0
    assert "-n NAMESRV, --namesrvAddr NAMESRV" in capsys.readouterr().out


def test_jfmt_java_subset() -> None:
    assert jfmt("%-6s|%4d|%.2f|%n", "ab", 7, 1.5) == "ab    |   7|1.50|\n"
    assert jfmt("%s %s", None, True) == "null true"
    assert front("abcdef", 3) == "abc" and front(None, 3) is None
    assert perm_string(6) == "RW-" and perm_string(2) == "-W-"


def test_version_names() -> None:
    assert version_desc(409) == "V4_9_8"
    assert version_desc(401) == "V4_9_4"
    assert version_desc(408) == "V4_9_8_SNAPSHOT"
    assert version_desc(611) == "V5_9_9"


def test_reset_timestamp_forms() -> None:
    assert parse_timestamp("now") == -1
    assert parse_timestamp("1700000000000") == 1700000000000
    want = int(datetime.datetime(2023, 1, 2, 3, 4, 5, 678000).timestamp() * 1000)
    assert parse_timestamp("2023-01-02#03:04:05:678") == want
