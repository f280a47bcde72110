"""From a dashboard number down to one visit and back up to funnels and cohorts, in a real headless Chromium.

Screenshots at laptop width go to the test's tmp dir, under screenshots/ (docs/screenshots/ holds the README's).
"""

from urllib.parse import parse_qs, urlsplit

from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select, WebDriverWait

from tests.conftest import PASSWORD
from tests.test_browser import _gone, browser, click, fill, server  # noqa: F401  (fixtures)
from tests.test_browser_dashboard import LAPTOP, PHONE, shots, to_phone_width  # noqa: F401  (fixture)


def params_of(browser):
    return parse_qs(urlsplit(browser.current_url).query)


def texts(browser, selector):
    return [e.text for e in browser.find_elements(By.CSS_SELECTOR, selector)]


def test_an_analyst_goes_from_a_breakdown_row_to_one_session_and_builds_a_funnel(server, browser, shots):
    browser.set_window_size(LAPTOP, 900)
    browser.get(server + "/")
    fill(browser, email="ana@example.com", password=PASSWORD, password2=PASSWORD)
    click(browser, "main form button[type=submit]")

    channel = browser.find_element(By.CSS_SELECTOR, "#by-channel tbody tr a.filter").text
    click(browser, "#by-channel tbody tr a.filter")
    click(browser, "//a[contains(text(), 'See these sessions')]", By.XPATH)
    assert urlsplit(browser.current_url).path == "/sessions" and params_of(browser)["channel"] == [channel]
    assert browser.find_element(By.CSS_SELECTOR, "a.chip .chip-value").text == channel
    rows = browser.find_elements(By.CSS_SELECTOR, "table.sessions tbody tr")
    assert len(rows) == 50 and {r.find_elements(By.TAG_NAME, "td")[2].text for r in rows} == {channel}
    shots(browser, "explorer", LAPTOP)

    click(browser, "//th/a[starts-with(text(), 'Revenue')]", By.XPATH)
    assert params_of(browser)["sort"] == ["-revenue"]
    revenues = [float(t.replace(",", "").lstrip("$")) for t in texts(browser, "table.sessions tbody td:last-child")]
    assert revenues == sorted(revenues, reverse=True) and revenues[0] > 0

    key = browser.find_element(By.CSS_SELECTOR, "table.sessions tbody td:first-child a").get_attribute("title")
    click(browser, "table.sessions tbody td:first-child a")
    assert browser.find_element(By.TAG_NAME, "h1").text.startswith(f"Session {key}")
    assert "purchase" in texts(browser, "table.timeline tbody td:nth-child(3)")
    shots(browser, "session", LAPTOP)

    customer = browser.find_element(By.CSS_SELECTOR, ".history a").text.replace("customer ", "")
    click(browser, ".history a")
    assert browser.find_element(By.TAG_NAME, "h1").text == f"Customer {customer}"
    assert key in texts(browser, "table.sessions tbody td:nth-child(2) a")
    shots(browser, "customer", LAPTOP)

    # On a phone, wide tables scroll inside their box: the page itself never scrolls sideways.
    to_phone_width(browser)
    for path in (urlsplit(browser.current_url).path, "/imports", "/admin/users", "/account", "/sessions",
                 "/funnels", "/retention", "/", "/admin/schema",
                 "/?period=90d&channel=email&-device=tablet&country=US%7CDE%7CGB"):  # three long chips
        browser.get(server + path)
        assert browser.execute_script("return document.documentElement.scrollWidth") <= PHONE, path
        # Tables laid out for a phone (a block per record, a breakdown's value above its figures) fit whole.
        wider = browser.execute_script("return [...document.querySelectorAll('table.stack, .breakdown table.data')]"
                                       ".filter(t => t.scrollWidth > t.parentElement.clientWidth + 1).length")
        assert wider == 0, path
    browser.get(server + "/funnels?period=90d")
    assert browser.execute_script("return document.querySelector('table.funnel.stack').scrollWidth") <= PHONE
    browser.set_window_size(LAPTOP, 900)

    browser.get(server + "/funnels?period=90d")
    assert len(browser.find_elements(By.CSS_SELECTOR, "table.funnel tbody tr")) == 5
    Select(browser.find_element(By.NAME, "by")).select_by_value("device")
    fill(browser, value5="")  # drop the purchase step: a four-step funnel by device
    click(browser, "//button[text()='Show funnel']", By.XPATH)
    assert texts(browser, "table.funnel:not(.breakdown-steps) tbody code") == [
        "event:page_view", "page:/products/*", "event:add_to_cart", "event:begin_checkout"]
    assert set(texts(browser, "table.breakdown-steps tbody th, table.breakdown-steps tbody td:first-child a")) >= {
        "mobile", "desktop"}
    fill(browser, name="Checkout by device")
    page = browser.find_element(By.TAG_NAME, "html")
    browser.find_element(By.NAME, "name").send_keys(Keys.ENTER)  # Enter in the name saves (funnels.js)
    WebDriverWait(browser, 10).until(lambda driver: _gone(page) and driver.find_elements(By.CSS_SELECTOR, ".flash"))
    assert "The funnel was saved." in browser.find_element(By.CSS_SELECTOR, ".flash.notice").text
    assert "Checkout by device" in texts(browser, ".saved-funnels li a")
    assert params_of(browser)["period"] == ["90d"] and params_of(browser)["by"] == ["device"]
    assert browser.find_elements(By.CSS_SELECTOR, "table.breakdown-steps tbody tr")
    shots(browser, "funnel", LAPTOP)

    click(browser, "//nav[@aria-label='Main']/a[text()='Retention']", By.XPATH)
    cohorts = browser.find_elements(By.CSS_SELECTOR, "table.retention tbody tr")
    assert len(cohorts) >= 3
    assert all(r.find_elements(By.CSS_SELECTOR, "td.num")[1].text == "100.0 %" for r in cohorts)
    shots(browser, "retention", LAPTOP)

    problems = [e["message"] for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert problems == []  # no Content-Security-Policy violation, no missing resource
