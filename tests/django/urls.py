"""URLs of the Django test project (admin only; the dashboard adds its own)."""

from __future__ import annotations

from django.contrib import admin
from django.urls import path

urlpatterns = [path("admin/", admin.site.urls)]
