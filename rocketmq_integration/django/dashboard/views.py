"""Staff-only dashboard pages: cluster, topics, consumer groups and lag, message lookup, DLQ, trace.

Every view requires an active staff user (others are redirected to the admin login, the way
``django.contrib.admin`` pages behave); the DLQ re-send is a POST with a CSRF token. The pages
render inside the admin's own layout. When the cluster cannot be read the page says so with a
503 status instead of failing with a 500.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from rocketmq_integration.client import Admin
from rocketmq_integration.client.validation import check_group, check_topic
from rocketmq_integration.django.dashboard import dlq, service, trace
from rocketmq_integration.django.dashboard.render import body_view
from rocketmq_integration.errors import ValidationError

__all__ = [
    "dlq_resend",
    "dlq_view",
    "group_detail",
    "group_list",
    "message_detail",
    "message_search",
    "overview",
    "topic_detail",
    "topic_list",
    "trace_view",
]

T = TypeVar("T")


def _options() -> dict[str, Any]:
    """``settings.ROCKETMQ_DASHBOARD``: TIMEOUT (s, default 3), TRACE_TOPIC (default RMQ_SYS_TRACE_TOPIC)."""
    raw = getattr(settings, "ROCKETMQ_DASHBOARD", None)
    return raw if isinstance(raw, dict) else {}


def _namesrv() -> str:
    """``ROCKETMQ["NAME_SERVER"]`` in the client's form (``;``-separated; the setting allows ``,`` too)."""
    from rocketmq_integration.django import get_config

    return str(get_config().get("NAME_SERVER") or "").replace(",", ";")


def _call(fn: Callable[[Admin], Awaitable[T]]) -> T:
    timeout = _options().get("TIMEOUT", 3.0)
    return service.call(_namesrv(), fn, timeout=float(timeout) if isinstance(timeout, int | float) else 3.0)


def _page(
    request: HttpRequest, template: str, title: str, ctx: dict[str, Any], status: int = 200
) -> HttpResponse:
    context = {**admin.site.each_context(request), "title": title, "namesrv": _namesrv(), **ctx}
    return render(request, f"rocketmq_dashboard/{template}", context, status=status)


def _unavailable(request: HttpRequest, title: str, exc: Exception) -> HttpResponse:
    return _page(request, "unavailable.html", title, {"error": str(exc)}, status=503)


def _bad_name(request: HttpRequest, title: str, exc: ValidationError) -> HttpResponse:
    return _page(request, "unavailable.html", title, {"error": str(exc)}, status=400)


@staff_member_required
@require_GET
def overview(request: HttpRequest) -> HttpResponse:
    title = "RocketMQ cluster"
    try:
        rows = _call(service.brokers)
    except service.ClusterUnavailable as exc:
        return _unavailable(request, title, exc)
    return _page(request, "overview.html", title, {"brokers": rows})


@staff_member_required
@require_GET
def topic_list(request: HttpRequest) -> HttpResponse:
    title = "RocketMQ topics"
    include_system = request.GET.get("system") == "1"
    try:
        rows = _call(lambda a: service.topics(a, include_system=include_system))
    except service.ClusterUnavailable as exc:
        return _unavailable(request, title, exc)
    return _page(request, "topics.html", title, {"topics": rows, "include_system": include_system})


@staff_member_required
@require_GET
def topic_detail(request: HttpRequest, topic: str) -> HttpResponse:
    title = f"Topic {topic}"
    try:
        check_topic(topic)
        detail = _call(lambda a: service.topic_detail(a, topic))
    except ValidationError as exc:
        return _bad_name(request, title, exc)
    except service.ClusterUnavailable as exc:
        return _unavailable(request, title, exc)
    return _page(request, "topic.html", title, {"topic": detail})


@staff_member_required
@require_GET
def group_list(request: HttpRequest) -> HttpResponse:
    title = "RocketMQ consumer groups"
    include_system = request.GET.get("system") == "1"
    try:
        rows = _call(lambda a: service.groups(a, include_system=include_system))
    except service.ClusterUnavailable as exc:
        return _unavailable(request, title, exc)
    return _page(request, "groups.html", title, {"groups": rows, "include_system": include_system})


@staff_member_required
@require_GET
def group_detail(request: HttpRequest, group: str) -> HttpResponse:
    title = f"Consumer group {group}"
    try:
        check_group(group)
        detail = _call(lambda a: service.group_detail(a, group))
    except ValidationError as exc:
        return _bad_name(request, title, exc)
    except service.ClusterUnavailable as exc:
        return _unavailable(request, title, exc)
    return _page(request, "group.html", title, {"group": detail})


@staff_member_required
@require_GET
def message_search(request: HttpRequest) -> HttpResponse:
    """``?topic=T&key=K`` (by message key) or ``?msg_id=ID[&topic=T]`` (by msgId)."""
    title = "Find a message"
    topic = request.GET.get("topic", "").strip()
    key = request.GET.get("key", "").strip()
    msg_id = request.GET.get("msg_id", "").strip()
    ctx: dict[str, Any] = {"topic": topic, "key": key, "msg_id": msg_id, "results": None, "problem": ""}
    try:
        if topic:
            check_topic(topic)
        if msg_id:
            ctx["results"] = _call(lambda a: service.find_by_id(a, msg_id, topic))
        elif key and topic:
            ctx["results"] = _call(lambda a: service.find_by_key(a, topic, key))
        elif key:
            ctx["problem"] = "A search by key needs the topic."
        ctx["topics"] = [t.name for t in _call(lambda a: service.topics(a))]
    except ValidationError as exc:
        ctx["problem"] = str(exc)
    except service.ClusterUnavailable as exc:
        return _unavailable(request, title, exc)
    return _page(request, "messages.html", title, ctx)


@staff_member_required
@require_GET
def message_detail(request: HttpRequest, topic: str, msg_id: str) -> HttpResponse:
    title = f"Message {msg_id}"
    try:
        check_topic(topic)
        found = _call(lambda a: service.find_by_id(a, msg_id, topic))
    except ValidationError as exc:
        return _bad_name(request, title, exc)
    except service.ClusterUnavailable as exc:
        return _unavailable(request, title, exc)
    if not found:
        return _page(request, "message.html", title, {"message": None, "topic": topic}, status=404)
    msg = max(found, key=lambda m: m.store_timestamp)
    kind, text = body_view(msg.body)
    group = msg.topic[len(service.DLQ_PREFIX) :] if msg.topic.startswith(service.DLQ_PREFIX) else ""
    return _page(
        request, "message.html", title,
        {"message": msg, "body_kind": kind, "body": text, "properties": sorted(msg.properties.items()),
         "dlq_group": group},
    )  # fmt: skip


@staff_member_required
@require_GET
def dlq_view(request: HttpRequest, group: str) -> HttpResponse:
    title = f"Dead letters of {group}"
    try:
        check_group(group)
        msgs = _call(lambda a: dlq.browse(a, group))
    except ValidationError as exc:
        return _bad_name(request, title, exc)
    except service.ClusterUnavailable as exc:
        return _unavailable(request, title, exc)
    rows = [(m, body_view(m.body)[1][:200]) for m in msgs]
    return _page(request, "dlq.html", title, {"group": group, "rows": rows})


@staff_member_required
@require_POST
def dlq_resend(request: HttpRequest, group: str) -> HttpResponse:
    """Re-send the DLQ record ``offset_msg_id`` (POST field) to ``group``; redirects to the DLQ page."""
    title = f"Dead letters of {group}"
    offset_msg_id = request.POST.get("offset_msg_id", "").strip()
    try:
        check_group(group)
        result = _call(lambda a: dlq.resend(a, group, offset_msg_id))
    except ValidationError as exc:
        return _bad_name(request, title, exc)
    except dlq.NotADeadLetter as exc:
        messages.error(request, str(exc))
        return redirect(reverse("rocketmq_dashboard:dlq", args=[group]))
    except service.ClusterUnavailable as exc:
        return _unavailable(request, title, exc)
    messages.success(
        request, f"Message {result.msg_id} was re-sent to {group} ({result.status.name}, via %RETRY%{group})."
    )
    return redirect(reverse("rocketmq_dashboard:dlq", args=[group]))


@staff_member_required
@require_GET
def trace_view(request: HttpRequest, msg_id: str) -> HttpResponse:
    title = f"Trace of {msg_id}"
    topic = str(_options().get("TRACE_TOPIC") or trace.DEFAULT_TRACE_TOPIC)
    try:
        records = _call(lambda a: trace.lookup(a, msg_id, topic))
    except service.ClusterUnavailable as exc:
        return _unavailable(request, title, exc)
    return _page(request, "trace.html", title, {"msg_id": msg_id, "records": records, "trace_topic": topic})
