"""Staff dashboard for RocketMQ, rendered inside the Django admin's layout (no external assets).

Pages: the cluster's brokers with their runtime figures; topics with per-queue offsets and the
groups consuming them; consumer groups with members, subscriptions and lag per queue; message
lookup by msgId or key (body shown escaped, binary as hex, with every property); a group's
dead-letter queue with a re-send button; the message trace when clients write one.

Install next to ``django.contrib.admin`` and the ``rocketmq`` app::

    INSTALLED_APPS = [..., "django.contrib.admin", "rocketmq_integration.django",
                      "rocketmq_integration.django.dashboard"]
    urlpatterns = [
        path("admin/rocketmq/", include("rocketmq_integration.django.dashboard.urls")),
        path("admin/", admin.site.urls),
    ]

The cluster is the one of ``settings.ROCKETMQ["NAME_SERVER"]``; optional
``settings.ROCKETMQ_DASHBOARD = {"TIMEOUT": 3.0, "TRACE_TOPIC": "RMQ_SYS_TRACE_TOPIC"}``. Only
active staff users see the pages (others go to the admin login).
"""
