"""Admin pages of the shop (the RocketMQ dashboard is linked from the site's header)."""

from __future__ import annotations

from django.contrib import admin

from sample_project.shop.models import Order, OrderEvent, Payment


class OrderEventInline(admin.TabularInline):
    model = OrderEvent
    extra = 0
    readonly_fields = ("step", "detail", "created")


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = ("id", "customer", "item", "amount", "status", "flagged", "receipt_sent", "created")
    list_filter = ("status", "flagged")
    inlines = [OrderEventInline]


admin.site.register(Payment)
