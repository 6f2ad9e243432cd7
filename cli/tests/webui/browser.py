"""The web UI in a real browser (Chromium through chromedriver, driven by Selenium).

Against a running master (--master host:port) this checks that every page loads without a
console error, that a task launched by mesos-execute appears on the open tasks page and reaches
FINISHED there without a reload, that the sandbox browser shows the task's stdout, and writes
screenshots of the overview and of the agent page (PNG) into --shots.

Usage: browser.py --master HOST:PORT --execute PATH/TO/mesos-execute --shots DIR
"""

import argparse
import os
import subprocess
import sys
import time

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.support.ui import WebDriverWait

LIMIT = 30


def fail(msg):
    print(f"FAIL: {msg}", flush=True)
    sys.exit(1)


def browser():
    opts = webdriver.ChromeOptions()
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              "--window-size=1400,900"):
        opts.add_argument(a)
    chromium = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    if os.path.exists(chromium):
        opts.binary_location = chromium
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")
    return webdriver.Chrome(service=Service(executable_path=driver), options=opts)


def console_errors(d):
    """SEVERE console entries since the last call (the log is drained as it is read)."""
    return [e for e in d.get_log("browser") if e.get("level") == "SEVERE"]


def wait(d, what, cond, limit=LIMIT):
    # The pages redraw as events arrive: an element read mid-redraw is stale, and read again.
    ignored = (NoSuchElementException, StaleElementReferenceException)
    try:
        return WebDriverWait(d, limit, poll_frequency=0.2, ignored_exceptions=ignored).until(
            lambda d: cond(d))
    except Exception:
        fail(f"timed out waiting for {what}; the page shows:\n{d.find_element(By.TAG_NAME, 'main').text[:2000]}")


def live(d):
    wait(d, "the event stream", lambda d: d.find_element(By.ID, "live").text.endswith("live"))


def visit(d, base, hash_, ready):
    d.get(f"{base}/#{hash_}")
    live(d)
    wait(d, f"#{hash_} to render", ready)
    time.sleep(0.5)
    errors = console_errors(d)
    if errors:
        fail(f"console errors on #{hash_}: {errors}")
    print(f"ok: #{hash_} loads without console errors", flush=True)


def click_link(d, text):
    """Clicks the link `text`, found again if a live update redrew it meanwhile."""
    def attempt(d):
        try:
            d.find_element(By.LINK_TEXT, text).click()
            return True
        except (StaleElementReferenceException, NoSuchElementException):
            return False
    wait(d, f"a click on the link {text!r}", attempt)


def text_of(d):
    return d.find_element(By.TAG_NAME, "main").text


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--master", required=True)
    p.add_argument("--execute", required=True)
    p.add_argument("--shots", required=True)
    a = p.parse_args()
    base = f"http://{a.master}"
    os.makedirs(a.shots, exist_ok=True)
    d = browser()
    try:
        has = lambda s: (lambda d: s in text_of(d))
        visit(d, base, "/", lambda d: d.find_element(By.ID, "agents-count").text.endswith("1"))
        visit(d, base, "/agents", has("Hostname"))
        agent = d.find_element(By.CSS_SELECTOR, "main tbody a").text
        visit(d, base, f"/agents/{agent}", has("Frameworks and executors"))
        visit(d, base, "/frameworks", has("Completed"))
        visit(d, base, "/roles", lambda d: d.find_elements(By.CSS_SELECTOR, "table.roles"))
        visit(d, base, "/offers", has("shown"))
        visit(d, base, "/tasks", has("shown"))

        # A task launched while the tasks page is open appears there and finishes there.
        d.execute_script("window.__same_page = true;")
        marker = "webui-stdout-marker"
        proc = subprocess.Popen(
            [a.execute, f"--master={a.master}", "--name=webui-task",
             f"--command=echo {marker}; sleep 2", "--resources=cpus:0.1;mem:32"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        rows_js = "return [...document.querySelectorAll('#tasks tbody tr')].map(r => r.innerText)"
        row = lambda d: [r for r in d.execute_script(rows_js) if "webui-task" in r]
        seen = wait(d, "the task on the tasks page", lambda d: row(d))
        print(f"ok: the task appeared: {seen[0]!r}", flush=True)
        wait(d, "the task to be FINISHED on the page", lambda d: any("FINISHED" in r for r in row(d)))
        if not d.execute_script("return window.__same_page === true;"):
            fail("the tasks page reloaded")
        print("ok: it reached FINISHED on the open page", flush=True)
        out, _ = proc.communicate(timeout=LIMIT)
        if proc.returncode != 0:
            fail(f"mesos-execute: {out.decode()}")
        if console_errors(d):
            fail("console errors on the tasks page")

        # Its page, its sandbox, its stdout.
        click_link(d, "webui-task")
        wait(d, "the task page's sandbox link", lambda d: d.find_elements(By.LINK_TEXT, "Sandbox"))
        if "FINISHED" not in text_of(d):
            fail("the task page does not show FINISHED")
        click_link(d, "Sandbox")
        wait(d, "the sandbox listing", lambda d: d.find_elements(By.LINK_TEXT, "stdout"))
        click_link(d, "stdout")
        wait(d, "the task's stdout", lambda d: marker in d.find_element(By.ID, "file-content").text)
        print("ok: the sandbox browser shows the task's stdout", flush=True)
        if console_errors(d):
            fail("console errors in the sandbox browser")

        # Screenshots.
        visit(d, base, "/", lambda d: "FINISHED" in d.find_element(By.ID, "tasks-by-state").text)
        time.sleep(2.5)  # a second metrics sample draws the chart's line
        d.save_screenshot(os.path.join(a.shots, "overview.png"))
        visit(d, base, f"/agents/{agent}", has("Browse"))
        d.save_screenshot(os.path.join(a.shots, "agent.png"))
        print(f"ok: screenshots in {a.shots}", flush=True)
    finally:
        d.quit()


if __name__ == "__main__":
    main()
