"""The dashboard in a real headless Chromium (Debian ``chromium`` + ``chromium-driver`` via Selenium).

A staff user logs in through the admin login form, sees a topic and a group's lag, finds a message
by key whose body holds a ``<script>`` (shown as text, never run), and re-sends a dead letter that
the group then consumes; a non-staff user is sent back to the login page. The browser and its
driver are system packages installed by ``tools/system-packages.sh``; a screenshot of the DLQ page
is written under the test's ``tmp_path`` (never into the repository).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from tests.django.dashboard_support import (
    DeadLetteringGroup,
    commit_offsets,
    send,
    wait_dead_letter,
    wait_indexed,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240), pytest.mark.django_db(transaction=True)]

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
    "--window-size=1280,1024",
)


def _system_binary(*names: str) -> str:
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    raise AssertionError(
        f"none of {names} on PATH: run tools/system-packages.sh (Debian chromium, chromium-driver)"
    )


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[webdriver.Chrome]:
    options = webdriver.ChromeOptions()
    options.binary_location = _system_binary("chromium", "chromium-browser")
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path / 'chromium-profile'}")
    service = Service(
        executable_path=_system_binary("chromedriver"), log_output=str(tmp_path / "chromedriver.log")
    )
    driver = webdriver.Chrome(service=service, options=options)
    driver.set_page_load_timeout(120)
    try:
        yield driver
    finally:
        driver.quit()


def login(driver: webdriver.Chrome, base: str, username: str, next_path: str) -> None:
    driver.get(f"{base}/admin/login/?next={next_path}")
    driver.find_element(By.NAME, "username").send_keys(username)
    driver.find_element(By.NAME, "password").send_keys("pw")
    driver.find_element(By.CSS_SELECTOR, "input[type=submit]").click()


def wait_text(driver: webdriver.Chrome, css: str, text: str, timeout: float = 60) -> None:
    try:
        WebDriverWait(driver, timeout).until(ec.text_to_be_present_in_element((By.CSS_SELECTOR, css), text))
    except TimeoutException:
        raise AssertionError(
            f"{text!r} not in {css} of {driver.current_url}:\n{driver.page_source}"
        ) from None


def test_staff_browses_lag_finds_a_message_and_resends_a_dead_letter(
    browser: webdriver.Chrome, live_server: Any, rocketmq_cluster: Any, settings: Any, tmp_path: Path
) -> None:
    namesrv = rocketmq_cluster.namesrv_addr
    settings.ROCKETMQ = {**settings.ROCKETMQ, "NAME_SERVER": namesrv}
    User.objects.create_user("ops", password="pw", is_staff=True)
    topic = rocketmq_cluster.create_topic(rocketmq_cluster.unique("Browse"), queues=2)
    lagging = rocketmq_cluster.unique("browse_lag")
    dead_group = rocketmq_cluster.unique("browse_dlq")
    for i in range(3):
        send(namesrv, topic, f"order {i}".encode(), f"order-{i}")
    send(namesrv, topic, b"<script>document.title='pwned'</script>", "xss-order")
    DeadLetteringGroup(namesrv, topic, lagging, set()).shutdown()
    commit_offsets(namesrv, topic, lagging, 0)  # nothing consumed: lag 4
    members = DeadLetteringGroup(namesrv, topic, dead_group, {"poison"})
    try:
        poison = send(namesrv, topic, b"cannot be processed", "poison")
        wait_dead_letter(namesrv, dead_group, poison)
        wait_indexed(namesrv, topic, "xss-order")
        base = live_server.url

        login(browser, base, "ops", "/admin/rocketmq/topics/")
        wait_text(browser, "#rmq-topics", topic)
        browser.find_element(By.LINK_TEXT, topic).click()
        wait_text(browser, "#rmq-topic-groups", lagging)
        browser.find_element(By.LINK_TEXT, lagging).click()
        wait_text(browser, "#rmq-total-lag", "5")  # 3 orders + the script + the poison message

        browser.find_element(By.LINK_TEXT, "Find a message").click()
        browser.find_element(By.ID, "id_topic").send_keys(topic)
        browser.find_element(By.ID, "id_key").send_keys("xss-order")
        browser.find_element(By.ID, "rmq-find").click()
        wait_text(browser, "#rmq-results", "xss-order")
        browser.find_element(By.CSS_SELECTOR, "#rmq-results tbody a").click()
        wait_text(browser, "#rmq-body", "<script>")
        assert browser.find_element(By.ID, "rmq-body").text == "<script>document.title='pwned'</script>"
        assert browser.title != "pwned"  # shown, never executed

        browser.get(f"{base}/admin/rocketmq/groups/{dead_group}/")
        browser.find_element(By.ID, "rmq-dlq-link").click()
        wait_text(browser, "#rmq-dlq", poison)
        browser.save_screenshot(str(tmp_path / "dashboard-dlq.png"))
        members.failing.clear()
        browser.find_element(By.CSS_SELECTOR, "input.rmq-resend[data-keys=poison]").click()
        wait_text(browser, "#rmq-flash", f"Message {poison} was re-sent to {dead_group}")
        again = members.wait_delivery("poison", count=2)[-1]
        assert again.topic == topic and again.body == b"cannot be processed"
    finally:
        members.shutdown()
    assert (tmp_path / "dashboard-dlq.png").stat().st_size > 0


def test_non_staff_user_is_sent_back_to_the_login_page(
    browser: webdriver.Chrome, live_server: Any, rocketmq_cluster: Any, settings: Any
) -> None:
    settings.ROCKETMQ = {**settings.ROCKETMQ, "NAME_SERVER": rocketmq_cluster.namesrv_addr}
    # the admin login form accepts staff only, so the shopper's session is made directly
    client = Client()
    client.force_login(User.objects.create_user("shopper", password="pw", is_staff=False))
    browser.get(f"{live_server.url}/admin/login/")
    browser.add_cookie(
        {"name": settings.SESSION_COOKIE_NAME, "value": client.cookies[settings.SESSION_COOKIE_NAME].value}
    )
    browser.get(f"{live_server.url}/admin/rocketmq/groups/")
    WebDriverWait(browser, 30).until(ec.url_contains("/admin/login/"))
    assert "rmq-groups" not in browser.page_source
    assert "not authorized to access this page" in browser.page_source
