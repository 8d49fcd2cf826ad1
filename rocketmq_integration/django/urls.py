"""URLs of the RocketMQ app: ``path("rocketmq/", include("rocketmq_integration.django.urls"))``."""

from __future__ import annotations

from django.urls import path

from rocketmq_integration.django import views

app_name = "rocketmq"
urlpatterns = [path("health/", views.health, name="health")]
