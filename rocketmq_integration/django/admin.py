"""``django.contrib.admin`` pages for the app's models (django-celery-beat style).

* Outbox messages: pending/sent filter, search by topic/key/msg id, the body shown escaped (text)
  or as hex (binary); actions "send again" (mark pending, the relay re-sends) and "send now"
  (send the selected pending rows through the relay, in id order).
* Transaction records and idempotency keys: read-only lists for investigating check-backs and
  duplicates.

Registered only when ``django.contrib.admin`` is installed (Django's admin autodiscovery imports
this module).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from rocketmq_integration.django.models import IdempotencyKey, OutboxMessage, TransactionRecord

if TYPE_CHECKING:  # ModelAdmin is generic only in django-stubs
    _OutboxBase = admin.ModelAdmin[OutboxMessage]
    _RecordBase = admin.ModelAdmin[TransactionRecord]
    _KeyBase = admin.ModelAdmin[IdempotencyKey]
else:
    _OutboxBase = _RecordBase = _KeyBase = admin.ModelAdmin

__all__ = ["IdempotencyKeyAdmin", "OutboxMessageAdmin", "TransactionRecordAdmin", "body_preview"]


def body_preview(body: bytes, limit: int = 2000) -> str:
    """UTF-8 text, or ``hex:`` + hex digits for binary; cut at ``limit`` characters. Callers render
    it through Django's autoescaping, so markup in a body is shown, never interpreted."""
    try:
        text = bytes(body).decode("utf-8")
    except UnicodeDecodeError:
        text = "hex:" + bytes(body).hex()
    return text if len(text) <= limit else text[:limit] + "…"


class PendingFilter(admin.SimpleListFilter):
    """Sent or pending."""

    title = "state"
    parameter_name = "state"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("pending", "pending"), ("sent", "sent")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() == "pending":
            return queryset.filter(sent_at__isnull=True)
        if self.value() == "sent":
            return queryset.filter(sent_at__isnull=False)
        return queryset


@admin.register(OutboxMessage)
class OutboxMessageAdmin(_OutboxBase):
    list_display = ("id", "topic", "tags", "keys", "hash_key", "created_at", "sent_at", "attempts", "msg_id")
    list_filter = (PendingFilter, "topic")
    search_fields = ("topic", "keys", "hash_key", "msg_id")
    readonly_fields = (
        "topic", "tags", "keys", "hash_key", "body_text", "properties", "delay_level", "template", "created_at",
        "sent_at", "msg_id", "attempts", "last_error",
    )  # fmt: skip
    exclude = ("body",)
    actions = ("send_again", "send_now")
    date_hierarchy = "created_at"

    @admin.display(description="body")
    def body_text(self, obj: OutboxMessage) -> str:
        return body_preview(obj.body)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # rows come from send_via_outbox, inside the business transaction

    @admin.action(description="Send again (mark pending; the relay re-sends them)")
    def send_again(self, request: HttpRequest, queryset: QuerySet[OutboxMessage]) -> None:
        n = queryset.update(sent_at=None)
        self.message_user(request, f"{n} message(s) marked pending.", messages.SUCCESS)

    @admin.action(description="Send now (with every older pending row, oldest first)")
    def send_now(self, request: HttpRequest, queryset: QuerySet[OutboxMessage]) -> None:
        from django.db.models import Max

        from rocketmq_integration.django.db import OutboxRelay

        last = queryset.filter(sent_at__isnull=True).aggregate(last=Max("id"))["last"]
        if last is None:
            self.message_user(request, "None of the selected messages is pending.", messages.INFO)
            return
        relay = OutboxRelay(using=queryset.db)
        # older pending rows go first, so no message overtakes an earlier one with its hash key
        rows = (
            OutboxMessage.objects.using(queryset.db).filter(sent_at__isnull=True, id__lte=last).order_by("id")
        )
        try:
            sent = relay.send_rows(list(rows))
        except Exception as exc:
            self.message_user(request, f"Sending failed: {type(exc).__name__}: {exc}", messages.ERROR)
            return
        finally:
            relay.release_lease()
        if sent is None:
            self.message_user(
                request, "Another relay holds the outbox lease; try again later.", messages.WARNING
            )
        else:
            self.message_user(request, f"{sent} message(s) sent.", messages.SUCCESS)


@admin.register(TransactionRecord)
class TransactionRecordAdmin(_RecordBase):
    list_display = ("transaction_id", "producer_group", "topic", "keys", "created_at")
    list_filter = ("producer_group", "topic")
    search_fields = ("transaction_id", "keys")
    date_hierarchy = "created_at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(IdempotencyKey)
class IdempotencyKeyAdmin(_KeyBase):
    list_display = ("group", "key", "done", "expires_at")
    list_filter = ("done", "group")
    search_fields = ("group", "key")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
