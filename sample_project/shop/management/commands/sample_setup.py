"""``manage.py sample_setup``: the demo staff user and the shop's topics (idempotent)."""

from __future__ import annotations

import asyncio
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser

from rocketmq_integration.client import Admin
from rocketmq_integration.django import get_config
from sample_project.shop import flow


class Command(BaseCommand):
    help = "Create the demo staff user and the shop's topics on every master broker."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--username", default="admin")
        parser.add_argument("--password", default="admin")

    def handle(self, *args: Any, **options: Any) -> None:
        users = get_user_model()
        if not users.objects.filter(username=options["username"]).exists():
            users.objects.create_superuser(options["username"], "", options["password"])
        asyncio.run(self._topics(str(get_config()["NAME_SERVER"])))
        self.stdout.write(f"staff user {options['username']!r} and topics ready")

    async def _topics(self, namesrv: str) -> None:
        async with Admin(namesrv) as admin:
            for topic in (flow.ORDERS_TOPIC, flow.PAYMENTS_TOPIC):
                await admin.create_topic(topic)
                await admin.wait_for_route(topic, min_write_queues=4, timeout=30)
