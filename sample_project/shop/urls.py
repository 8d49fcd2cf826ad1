"""Shop URLs."""

from __future__ import annotations

from django.urls import path

from sample_project.shop import views

app_name = "shop"

urlpatterns = [
    path("", views.home, name="home"),
    path("orders/<int:pk>/", views.order_detail, name="order"),
    path("orders/<int:pk>.json", views.order_json, name="order_json"),
]
