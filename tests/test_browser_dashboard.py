"""The dashboard as an analyst uses it, in a real headless Chromium against a real waitress server with demo data.

Screenshots at laptop (1366 px) and phone (390 px) widths go to the test's tmp dir, under screenshots/.
"""

import json
import urllib.request
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from analyzer.web import present
from tests.conftest import PASSWORD
from tests.test_browser import browser, click, fill, server  # noqa: F401  (fixtures)

LAPTOP, PHONE = 1366, 390


def to_phone_width(browser):
    """Resize the window to a phone's width and wait until the page is laid out at it (a busy machine lags)."""
    browser.set_window_size(PHONE, 800)
    WebDriverWait(browser, 10).until(lambda driver: driver.execute_script("return window.innerWidth") <= PHONE)


@pytest.fixture
def shots(tmp_path):
    """Save full-page screenshots under the test's tmp dir and return their paths."""
    folder = tmp_path / "screenshots"
    folder.mkdir()

    def take(driver, name, width):
        driver.set_window_size(width, 900)
        height = driver.execute_script("return document.documentElement.scrollHeight")
        driver.set_window_size(width, min(height, 6000))
        path = folder / f"{name}-{width}.png"
        driver.save_screenshot(str(path))
        driver.set_window_size(LAPTOP, 900)
        return path
    return take


def api_stats(server, token, url):
    """Ask /api/v1/stats for the figures of the page at URL (same parameters)."""
    query = urlsplit(url).query
    request = urllib.request.Request(f"{server}/api/v1/stats?{query}", headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)["metrics"]


def shown(browser, metric):
    return browser.find_element(By.CSS_SELECTOR, f'a.kpi[data-metric="{metric}"] .kpi-value').text


def assert_page_matches_api(browser, server, token):
    metrics = api_stats(server, token, browser.current_url)
    for name in ("sessions", "conversions", "new_customers"):
        assert shown(browser, name) == present.count(metrics[name]["value"]), name
    assert shown(browser, "revenue") == present.money(Decimal(str(metrics["revenue"]["value"])), "USD")
    assert shown(browser, "bounce_rate") == present.percent(metrics["bounce_rate"]["value"])
    return metrics


def params_of(browser):
    return parse_qs(urlsplit(browser.current_url).query)


def test_an_analyst_explores_the_demo_data_on_the_dashboard(server, browser, shots):
    browser.set_window_size(LAPTOP, 900)
    browser.get(server + "/")
    fill(browser, email="ana@example.com", password=PASSWORD, password2=PASSWORD)
    click(browser, "main form button[type=submit]")
    assert browser.current_url == server + "/"
    assert browser.find_element(By.TAG_NAME, "h1").text == "Dashboard"
    assert int(shown(browser, "sessions").replace(",", "")) > 1000
    shots(browser, "dashboard", LAPTOP)
    shots(browser, "dashboard", PHONE)

    browser.get(server + "/account")
    browser.find_element(By.NAME, "name").send_keys("browser test")
    click(browser, "//button[text()='Create token']", By.XPATH)
    token = browser.find_element(By.CSS_SELECTOR, "pre.token").text
    browser.get(server + "/")
    assert_page_matches_api(browser, server, token)

    click(browser, "//nav[@aria-label='Date range']/a[text()='7 days']", By.XPATH)
    assert params_of(browser)["period"] == ["7d"]
    assert browser.find_element(By.CSS_SELECTOR, "nav.ranges a[aria-current]").text == "7 days"
    assert_page_matches_api(browser, server, token)

    click(browser, "//nav[@aria-label='Compare with']/a[text()='Year before']", By.XPATH)
    assert params_of(browser)["compare"] == ["year"]
    metrics = assert_page_matches_api(browser, server, token)
    assert metrics["sessions"]["previous"] in (0, None)  # the demo data covers the last 90 days only
    assert "no previous data" in browser.find_element(By.CSS_SELECTOR, 'a.kpi[data-metric="sessions"]').text
    click(browser, "//nav[@aria-label='Compare with']/a[text()='Previous period']", By.XPATH)

    click(browser, 'a.kpi[data-metric="revenue"]')
    assert params_of(browser)["metric"] == ["revenue"]
    assert browser.find_element(By.ID, "trend-title").text.startswith("Revenue")
    points = browser.find_elements(By.CSS_SELECTOR, "#trend g.pt")
    assert len(points) == 7
    ActionChains(browser).move_to_element(points[3].find_element(By.CSS_SELECTOR, "rect.hit")).perform()
    tip = browser.find_element(By.CSS_SELECTOR, ".tip")
    WebDriverWait(browser, 10).until(lambda driver: tip.is_displayed())
    cells = browser.find_elements(By.CSS_SELECTOR, "#trend table tbody tr")[3].find_elements(By.TAG_NAME, "td")
    assert tip.text.split("\n")[:2] == [cells[0].get_attribute("textContent"), cells[1].get_attribute("textContent")]

    click(browser, "//nav[@aria-label='Date range']/a[text()='30 days']", By.XPATH)
    first = browser.find_element(By.CSS_SELECTOR, "#by-channel tbody tr a.filter")
    channel = first.text
    click(browser, "#by-channel tbody tr a.filter")
    assert params_of(browser)["channel"] == [channel]
    chip = browser.find_element(By.CSS_SELECTOR, "a.chip")
    assert chip.find_element(By.CSS_SELECTOR, ".chip-value").text == channel
    assert [e.text for e in browser.find_elements(By.CSS_SELECTOR, "#by-channel tbody a.filter")] == [channel]
    assert_page_matches_api(browser, server, token)
    shots(browser, "dashboard-filtered", LAPTOP)

    click(browser, "a.chip")
    assert browser.find_elements(By.CSS_SELECTOR, "a.chip") == []
    assert "channel" not in params_of(browser)
    browser.back()
    WebDriverWait(browser, 10).until(lambda driver: driver.find_elements(By.CSS_SELECTOR, "a.chip"))
    assert params_of(browser)["channel"] == [channel]
    browser.forward()
    WebDriverWait(browser, 10).until(lambda driver: "channel" not in params_of(driver))

    to_phone_width(browser)
    assert browser.execute_script("return document.documentElement.scrollWidth") <= PHONE  # nothing spills sideways
    problems = [e["message"] for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert problems == []  # no Content-Security-Policy violation, no missing resource, no script error
