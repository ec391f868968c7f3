"""Drives Debian's chromium (headless, through chromium-driver and selenium) against the Wharf console, as a
person would: signs in through the form, opens pages, fills forms and clicks buttons. Each command prints one
JSON object; the Swift test (Tests/ObservabilityTests/ConsoleBrowserTests.swift) compares it with what the
services' gRPC APIs say.

    console_browser.py pages BASE_URL TOKEN OUTPUT_FOLDER RECORD_CID
    console_browser.py create-token BASE_URL TOKEN LABEL
    console_browser.py revoke-credentials BASE_URL TOKEN NODE
    console_browser.py post-without-csrf BASE_URL TOKEN
"""
import json
import os
import sys

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

ROW_ATTRIBUTES = ["data-address", "data-service", "data-limiter", "data-keyid", "data-plan", "data-token", "data-sync",
                  "data-username", "data-cid", "data-result", "data-reconciliation", "data-subscription", "data-peer"]

READ_PAGE = """
const rows = {};
for (const attribute of arguments[0]) {
  rows[attribute] = Array.from(document.querySelectorAll("tr[" + attribute + "]"))
    .map(row => ({key: row.getAttribute(attribute), text: row.innerText.replace(/\\s+/g, " ").trim()}));
}
const ids = {};
document.querySelectorAll("[id]").forEach(node => {
  if (node.children.length === 0 || node.tagName === "PRE") { ids[node.id] = node.innerText.trim(); }
});
return {rows: rows, ids: ids, bytes: new Blob([document.documentElement.outerHTML]).size, title: document.title,
        circles: document.querySelectorAll("circle.backup").length, problems: Array.from(document.querySelectorAll(".problem")).map(p => p.innerText)};
"""


def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = os.environ.get("WHARF_TEST_CHROMIUM", "/usr/bin/chromium")
    for argument in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1400,1000",
                     "--no-first-run", "--disable-extensions"]:
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(os.environ.get("WHARF_TEST_CHROMEDRIVER", "/usr/bin/chromedriver"))
    return webdriver.Chrome(service=service, options=options)


def sign_in(driver, base, token):
    driver.get(base + "/login")
    driver.find_element(By.ID, "token").send_keys(token)
    driver.find_element(By.ID, "sign-in").click()
    WebDriverWait(driver, 20).until(expected_conditions.presence_of_element_located((By.ID, "sign-out")))


def console_errors(driver):
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] in ("SEVERE", "WARNING")]


def pages(base, token, folder, cid):
    os.makedirs(folder, exist_ok=True)
    driver = browser()
    try:
        sign_in(driver, base, token)
        result = {}
        for name, path in [("system", "/system"), ("hosts", "/hosts"), ("hosts-filtered", "/hosts?host=go-laptop&status=error"),
                           ("mirrors", "/mirrors"), ("records", "/records"), ("search", "/records?q=skill%3Aobserved%2Fskill"),
                           ("record", "/records/" + cid), ("relay", "/relay")]:
            driver.get(base + path)
            WebDriverWait(driver, 20).until(lambda d: d.execute_script("return document.readyState") == "complete")
            page = driver.execute_script(READ_PAGE, ROW_ATTRIBUTES)
            # What a person sees first (the README shows these), then the whole page.
            driver.save_screenshot(os.path.join(folder, name + "-top.png"))
            height = driver.execute_script("return document.documentElement.scrollHeight")
            driver.set_window_size(1400, max(800, min(int(height) + 40, 8000)))
            screenshot = os.path.join(folder, name + ".png")
            driver.save_screenshot(screenshot)
            driver.set_window_size(1400, 1000)
            page["screenshot"] = screenshot
            page["errors"] = console_errors(driver)
            result[name] = page
        # The live refresh: the page's script fetches its JSON every 5 s; after one round no error was logged.
        driver.get(base + "/system")
        WebDriverWait(driver, 20).until(lambda d: d.execute_script("return document.body.hasAttribute('data-page')"))
        driver.execute_script("window.__before = document.querySelector('[data-live=readAt]').textContent")
        WebDriverWait(driver, 20).until(
            lambda d: d.execute_script("return document.querySelector('[data-live=readAt]').textContent !== window.__before"))
        result["refresh"] = {"errors": console_errors(driver),
                             "stale": driver.execute_script("return document.body.getAttribute('data-stale')")}
        print(json.dumps(result))
    finally:
        driver.quit()


def create_token(base, token, label):
    driver = browser()
    try:
        sign_in(driver, base, token)
        driver.get(base + "/hosts")
        driver.find_element(By.ID, "token-label").send_keys(label)
        driver.find_element(By.ID, "create-token-button").click()
        created = WebDriverWait(driver, 20).until(expected_conditions.presence_of_element_located((By.ID, "created-token")))
        print(json.dumps({"token": created.text.strip(), "errors": console_errors(driver)}))
    finally:
        driver.quit()


def revoke_credentials(base, token, node):
    driver = browser()
    try:
        sign_in(driver, base, token)
        driver.get(base + "/mirrors")
        row = driver.find_element(By.CSS_SELECTOR, 'tr[data-node="%s"]' % node)
        row.find_element(By.CSS_SELECTOR, "button.danger").click()
        notice = WebDriverWait(driver, 20).until(expected_conditions.presence_of_element_located((By.ID, "notice")))
        print(json.dumps({"notice": notice.text.strip(), "url": driver.current_url, "errors": console_errors(driver)}))
    finally:
        driver.quit()


def post_without_csrf(base, token):
    driver = browser()
    try:
        sign_in(driver, base, token)
        driver.get(base + "/hosts")
        status = driver.execute_async_script("""
            const done = arguments[arguments.length - 1];
            fetch("/hosts/pairing-tokens", {method: "POST", credentials: "same-origin",
                  headers: {"Content-Type": "application/x-www-form-urlencoded"},
                  body: "label=forged&hours=1&uses=1&permission=read-operations&scope=*"})
              .then(response => done(response.status), () => done(-1));
        """)
        tokens = len(driver.find_elements(By.CSS_SELECTOR, "tr[data-token]"))
        print(json.dumps({"status": status, "tokensBefore": tokens}))
    finally:
        driver.quit()


def main():
    command = sys.argv[1] if len(sys.argv) > 1 else ""
    if command == "pages":
        pages(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5])
    elif command == "create-token":
        create_token(sys.argv[2], sys.argv[3], sys.argv[4])
    elif command == "revoke-credentials":
        revoke_credentials(sys.argv[2], sys.argv[3], sys.argv[4])
    elif command == "post-without-csrf":
        post_without_csrf(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
