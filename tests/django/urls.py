"""URLs of the Django test project: the admin and, under it, the RocketMQ dashboard."""

from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/rocketmq/", include("rocketmq_integration.django.dashboard.urls")),
    path("admin/", admin.site.urls),
    path("rocketmq/", include("rocketmq_integration.django.urls")),
]
