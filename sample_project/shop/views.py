"""The shop's pages: place an order, see its way through the system (HTML and JSON)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from sample_project.shop import flow
from sample_project.shop.models import Order


@require_http_methods(["GET", "POST"])
def home(request: HttpRequest) -> HttpResponse:
    """The order form (POST places an order) and the latest orders."""
    error = ""
    if request.method == "POST":
        try:
            amount = Decimal(request.POST.get("amount", ""))
        except InvalidOperation:
            amount = Decimal(-1)
        customer = request.POST.get("customer", "").strip()[:100]
        item = request.POST.get("item", "").strip()[:100]
        if amount <= 0 or amount >= Decimal("1e8") or not customer or not item:
            error = "Give a customer, an item and a positive amount."
        else:
            order = flow.place_order(customer, item, amount.quantize(Decimal("0.01")))
            if request.headers.get("Accept", "").startswith("application/json"):
                return JsonResponse(_order_json(order), status=201)
            return redirect("shop:order", order.pk)
    return render(
        request, "shop/home.html",
        {"orders": Order.objects.all()[:20], "stats": flow.stats(), "error": error},
        status=400 if error else 200,
    )  # fmt: skip


@require_GET
def order_detail(request: HttpRequest, pk: int) -> HttpResponse:
    order = get_object_or_404(Order, pk=pk)
    return render(request, "shop/order.html", {"order": order, "events": order.events.all()})


@require_GET
def order_json(request: HttpRequest, pk: int) -> JsonResponse:
    return JsonResponse(_order_json(get_object_or_404(Order, pk=pk)))


def _order_json(order: Order) -> dict[str, object]:
    # events first: each step writes its flags before its event, so a step listed here is also
    # reflected in the row read after it
    events = [{"step": e.step, "detail": e.detail} for e in order.events.all()]
    order.refresh_from_db()
    return {
        "id": order.pk,
        "customer": order.customer,
        "item": order.item,
        "amount": str(order.amount),
        "status": order.status,
        "flagged": order.flagged,
        "receipt_sent": order.receipt_sent,
        "events": events,
    }
