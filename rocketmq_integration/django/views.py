"""A JSON health view for load balancers and orchestrators: does the name server answer?

Include ``rocketmq_integration.django.urls`` (``path("rocketmq/", include(...))``) and probe
``GET /rocketmq/health/``: 200 ``{"status": "ok", ...}`` when the configured NameServer answers
within two seconds, else 503 ``{"status": "unavailable", "error": ...}``. Unauthenticated on
purpose, and it reveals nothing but the NameServer address and the failure reason.
"""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from rocketmq_integration.django.conf import get_config
from rocketmq_integration.django.probe import probe_name_server

__all__ = ["health"]


@never_cache
@require_GET
def health(request: HttpRequest) -> JsonResponse:
    """200 when the NameServer answers, 503 otherwise."""
    addr = str(get_config()["NAME_SERVER"])
    why = probe_name_server(addr, timeout=2.0) if addr.strip() else "no NAME_SERVER configured"
    if why is None:
        return JsonResponse({"status": "ok", "name_server": addr})
    return JsonResponse({"status": "unavailable", "name_server": addr, "error": why}, status=503)
