"""The sign-in flow in a real headless Chromium against a real waitress server on 127.0.0.1."""

import os
import shutil
import socket
import subprocess
import sys

import pytest

from tests.conftest import PASSWORD, wait_for_server

CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
if not (CHROMIUM and CHROMEDRIVER):
    if os.environ.get("REQUIRE_BROWSER"):
        raise RuntimeError("REQUIRE_BROWSER=1 but chromium or chromedriver is missing (apt-get install chromium chromium-driver)")
    pytest.skip("chromium and chromedriver are not installed (apt-get install chromium chromium-driver)",
                allow_module_level=True)

from selenium import webdriver  # noqa: E402
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402


@pytest.fixture
def server(project):
    """python app.py --demo on a fresh SQLite database, on a free port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if k not in ("APP_ENV", "DATABASE_URL", "SECRET_KEY")}
    env["PORT"] = str(port)
    process = subprocess.Popen([sys.executable, "app.py", "--demo"], cwd=project, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    wait_for_server(base, process)
    yield base
    process.terminate()
    process.communicate(timeout=10)


@pytest.fixture
def browser(tmp_path):
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", f"--user-data-dir={tmp_path / 'profile'}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


def click(browser, selector, by=By.CSS_SELECTOR):
    """Click a submit button and wait until the next page has loaded."""
    page = browser.find_element(By.TAG_NAME, "html")
    browser.find_element(by, selector).click()
    wait = WebDriverWait(browser, 10)
    wait.until(lambda driver: _gone(page))
    wait.until(lambda driver: driver.execute_script("return document.readyState") == "complete")


def _gone(element):
    try:
        element.is_enabled()
    except StaleElementReferenceException:
        return True
    except WebDriverException as exc:
        # What ChromeDriver says, instead of "stale", of a node of the page that a navigation replaced.
        if "does not belong to the document" in (exc.msg or ""):
            return True
        raise
    return False


def fill(browser, **fields):
    for name, value in fields.items():
        element = browser.find_element(By.NAME, name)
        element.clear()
        element.send_keys(value)


def test_first_admin_setup_sign_out_and_sign_in_in_a_real_browser(server, browser):
    browser.get(server + "/")
    assert browser.current_url == server + "/setup"
    fill(browser, email="root@example.com", password=PASSWORD, password2=PASSWORD)
    click(browser, "main form button[type=submit]")
    assert browser.current_url == server + "/"
    assert browser.find_element(By.TAG_NAME, "h1").text == "Dashboard"
    click(browser, "//nav[@aria-label='Main']/a[text()='Sessions']", By.XPATH)
    assert "5,000 in all, newest first" in browser.find_element(By.TAG_NAME, "h1").text
    assert len(browser.find_elements(By.CSS_SELECTOR, "table.sessions tbody tr")) == 50
    click(browser, "//button[text()='Sign out']", By.XPATH)
    assert browser.current_url == server + "/login"
    browser.get(server + "/account")
    assert browser.current_url == server + "/login?next=/account"
    fill(browser, email="root@example.com", password="wrong password 42")
    click(browser, "main form button[type=submit]")
    assert "Email or password is wrong" in browser.find_element(By.CSS_SELECTOR, ".flash.error").text
    fill(browser, email="root@example.com", password=PASSWORD)
    click(browser, "main form button[type=submit]")
    assert browser.current_url == server + "/account"
    browser.find_element(By.NAME, "name").send_keys("laptop")
    click(browser, "//button[text()='Create token']", By.XPATH)
    assert browser.find_element(By.CSS_SELECTOR, "pre.token").text.startswith("csa_")
    cookie = browser.get_cookie("analyzer_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
    assert browser.execute_script("return document.cookie").find("analyzer_session") == -1
    problems = [e["message"] for e in browser.get_log("browser")
                if e["level"] == "SEVERE" and "status of 401" not in e["message"]]  # the wrong password's page
    assert problems == []  # no Content-Security-Policy violation, no missing resource
