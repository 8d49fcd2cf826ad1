"""URLs: the shop at ``/``, the RocketMQ dashboard at ``/admin/rocketmq/``, the admin at ``/admin/``."""

from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/rocketmq/", include("rocketmq_integration.django.dashboard.urls")),
    path("admin/", admin.site.urls),
    path("", include("sample_project.shop.urls")),
]
