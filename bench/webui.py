"""The web UI's speed in Chromium (through chromedriver, driven by Selenium), for `scale webui`.

Against a populated master (--master host:port with --agents agents) it measures, in the page's
own clock: the time from navigation to the first full render (the page drawn from the whole
state the operator event stream's first event carries) of the overview and of the tasks page,
and the time from an event (an agent marked gone through the operator API) to the open overview
showing it. Prints one JSON object last.
"""

import argparse
import json
import os
import time
import urllib.request

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.support.ui import WebDriverWait

LIMIT = 120


def browser():
    opts = webdriver.ChromeOptions()
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              "--window-size=1400,900"):
        opts.add_argument(a)
    chromium = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    if os.path.exists(chromium):
        opts.binary_location = chromium
    driver = os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")
    return webdriver.Chrome(service=Service(executable_path=driver), options=opts)


TIMINGS = {}


def first_render(d, url):
    """Milliseconds from navigation to the page's first full render (and, in TIMINGS, when the
    SUBSCRIBE answer began, when its first record, the whole state, had arrived and when it was
    parsed)."""
    d.get("about:blank")
    d.get(url)
    ms = WebDriverWait(d, LIMIT, poll_frequency=0.05).until(
        lambda d: d.execute_script("return window.__mesosFirstFullRender;"))
    # The page goes on to load the whole state: let it, so that the next page loads on an idle
    # master (a page left mid-load would leave the master building a state no one reads).
    WebDriverWait(d, LIMIT, poll_frequency=0.05).until(
        lambda d: d.execute_script("return (window.__mesosTimings || {}).applied;"))
    TIMINGS[url] = d.execute_script("""
        const t = Object.assign({}, window.__mesosTimings);
        const nav = performance.getEntriesByType('navigation')[0];
        t.document = [Math.round(nav.requestStart), Math.round(nav.responseEnd)];
        for (const e of performance.getEntriesByType('resource')) {
          t[e.name.split('/').pop() || e.name] = [Math.round(e.startTime), Math.round(e.responseEnd)];
        }
        return t;""")
    return ms


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--master", required=True)
    p.add_argument("--agents", type=int, required=True)
    a = p.parse_args()
    base = f"http://{a.master}"
    # The master's side alone: the whole state as the SUBSCRIBED event carries it.
    t = time.time()
    req = urllib.request.Request(base + "/api/v1", data=b'{"type":"GET_STATE"}',
                                 headers={"Content-Type": "application/json", "Accept": "application/json"})
    state_bytes = len(urllib.request.urlopen(req).read())
    get_state_ms = (time.time() - t) * 1000
    d = browser()
    try:
        overview_ms = first_render(d, f"{base}/#/")
        shown = d.execute_script("return document.querySelector('#agents-count .card-value').textContent")
        if shown != str(a.agents):
            raise SystemExit(f"the overview shows {shown} agents, not {a.agents}")
        tasks_ms = first_render(d, f"{base}/#/tasks")
        rows = d.execute_script("return document.querySelectorAll('#tasks tbody tr').length")
        if rows == 0:
            raise SystemExit("the tasks page shows no task")
        first_render(d, f"{base}/#/")
        with urllib.request.urlopen(f"{base}/master/slaves") as r:
            agent = json.load(r)["slaves"][0]["id"]
        d.set_script_timeout(LIMIT)
        live_ms = d.execute_async_script("""
            const [agent, want, done] = arguments;
            const shown = () => document.querySelector('#agents-count .card-value')?.textContent;
            const t0 = performance.now();
            const obs = new MutationObserver(() => {
              if (shown() === want) { obs.disconnect(); done(performance.now() - t0); }
            });
            obs.observe(document.getElementById('view'), {subtree: true, childList: true, characterData: true});
            fetch('/api/v1', {method: 'POST',
              headers: {'Content-Type': 'application/json', 'Accept': 'application/json'},
              body: JSON.stringify({type: 'MARK_AGENT_GONE', mark_agent_gone: {agent_id: {value: agent}}})});
        """, agent, str(a.agents - 1))
    finally:
        d.quit()
    print(json.dumps({"timings": TIMINGS}))
    print(json.dumps({"overview_ms": overview_ms, "tasks_ms": tasks_ms, "live_update_ms": live_ms,
                      "get_state_ms": get_state_ms, "state_bytes": state_bytes,
                      "subscribed_ms": TIMINGS[f"{base}/#/"].get("subscribed")}))


if __name__ == "__main__":
    main()
