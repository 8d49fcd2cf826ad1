"""Dashboard URLs; include them next to the admin's, e.g.::

path("admin/rocketmq/", include("rocketmq_integration.django.dashboard.urls")),
path("admin/", admin.site.urls),
"""

from __future__ import annotations

from django.urls import path

from rocketmq_integration.django.dashboard import views

app_name = "rocketmq_dashboard"

urlpatterns = [
    path("", views.overview, name="overview"),
    path("topics/", views.topic_list, name="topics"),
    path("topics/<str:topic>/", views.topic_detail, name="topic"),
    path("groups/", views.group_list, name="groups"),
    path("groups/<str:group>/", views.group_detail, name="group"),
    path("groups/<str:group>/dlq/", views.dlq_view, name="dlq"),
    path("groups/<str:group>/dlq/resend/", views.dlq_resend, name="dlq_resend"),
    path("messages/", views.message_search, name="messages"),
    path("messages/<str:topic>/<str:msg_id>/", views.message_detail, name="message"),
    path("trace/<str:msg_id>/", views.trace_view, name="trace"),
]
