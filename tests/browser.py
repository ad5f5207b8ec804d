"""Drive headless Chromium as a person would, with scripts turned OFF in the page: open a URL,
type into a field, press Enter to submit the form, read the page, take a screenshot.

Talks the Chrome DevTools Protocol over --remote-debugging-pipe (file descriptors 3 and 4,
NUL-separated JSON), so it needs nothing beyond Python's standard library.

    python tests/browser.py <chromium> '<json list of steps>'

Steps: {"goto": url} | {"fill": css selector, "value": text} | {"enter": css selector}
       | {"screenshot": path}. After every step the answer holds {"url", "text"} (the page's
       visible text); the whole answer is one JSON list on stdout.
"""

import base64
import json
import os
import subprocess
import sys
import tempfile
import time


class Browser:
    def __init__(self, binary):
        self.profile = tempfile.TemporaryDirectory()
        to_browser_read, self.to_browser = os.pipe()
        self.from_browser, from_browser_write = os.pipe()
        # The child reads commands on fd 3 and writes answers on fd 4.
        self.process = subprocess.Popen(
            [
                binary,
                "--headless=new",
                "--remote-debugging-pipe",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-extensions",
                "--window-size=800,600",
                f"--user-data-dir={self.profile.name}",
                "about:blank",
            ],
            # preexec_fn runs before the child closes other descriptors: keep 3 and 4.
            pass_fds=(3, 4, to_browser_read, from_browser_write),
            preexec_fn=lambda: (os.dup2(to_browser_read, 3), os.dup2(from_browser_write, 4)),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(to_browser_read)
        os.close(from_browser_write)
        self.buffer = b""
        self.next_id = 0
        self.events = []
        targets = self.call("Target.getTargets")["targetInfos"]
        page = next(t for t in targets if t["type"] == "page")
        self.session = self.call(
            "Target.attachToTarget", {"targetId": page["targetId"], "flatten": True}
        )["sessionId"]
        self.call("Page.enable", session=True)
        # No JavaScript: every page must work without it.
        self.call("Emulation.setScriptExecutionDisabled", {"value": True}, session=True)

    def read_message(self, deadline):
        while b"\0" not in self.buffer:
            if time.time() > deadline:
                raise TimeoutError("Chromium did not answer in time")
            chunk = os.read(self.from_browser, 65536)
            if not chunk:
                raise RuntimeError("Chromium closed the pipe")
            self.buffer += chunk
        message, self.buffer = self.buffer.split(b"\0", 1)
        return json.loads(message)

    def call(self, method, params=None, session=False, timeout=20):
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = self.session
        os.write(self.to_browser, json.dumps(message).encode() + b"\0")
        deadline = time.time() + timeout
        while True:
            answer = self.read_message(deadline)
            if answer.get("id") == self.next_id:
                if "error" in answer:
                    raise RuntimeError(f"{method}: {answer['error']}")
                return answer["result"]
            self.events.append(answer)

    def wait_for_load(self, timeout=20):
        deadline = time.time() + timeout
        while True:
            for event in self.events:
                if event.get("method") == "Page.loadEventFired":
                    self.events.clear()
                    return
            self.events.append(self.read_message(deadline))

    def query(self, selector):
        root = self.call("DOM.getDocument", {"depth": 0}, session=True)["root"]["nodeId"]
        node = self.call(
            "DOM.querySelector", {"nodeId": root, "selector": selector}, session=True
        )["nodeId"]
        if not node:
            raise RuntimeError(f"no element matches {selector}")
        return node

    def state(self):
        history = self.call("Page.getNavigationHistory", session=True)
        url = history["entries"][history["currentIndex"]]["url"]
        root = self.call("DOM.getDocument", {"depth": 0}, session=True)["root"]["nodeId"]
        html = self.call("DOM.getOuterHTML", {"nodeId": root}, session=True)["outerHTML"]
        return {"url": url, "html": html}

    def key(self, kind):
        self.call(
            "Input.dispatchKeyEvent",
            {
                "type": kind,
                "key": "Enter",
                "code": "Enter",
                "windowsVirtualKeyCode": 13,
                "nativeVirtualKeyCode": 13,
                **({"text": "\r"} if kind == "keyDown" else {}),
            },
            session=True,
        )

    def step(self, step):
        if "goto" in step:
            self.events.clear()
            self.call("Page.navigate", {"url": step["goto"]}, session=True)
            self.wait_for_load()
        elif "fill" in step:
            self.call("DOM.focus", {"nodeId": self.query(step["fill"])}, session=True)
            self.call("Input.insertText", {"text": step["value"]}, session=True)
        elif "enter" in step:
            self.call("DOM.focus", {"nodeId": self.query(step["enter"])}, session=True)
            self.events.clear()
            self.key("keyDown")
            self.key("keyUp")
            self.wait_for_load()
        elif "screenshot" in step:
            shot = self.call("Page.captureScreenshot", {"format": "png"}, session=True)
            with open(step["screenshot"], "wb") as out:
                out.write(base64.b64decode(shot["data"]))
        return self.state()

    def close(self):
        try:
            self.call("Browser.close", timeout=5)
        except Exception:
            pass
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.profile.cleanup()


def main():
    binary, steps = sys.argv[1], json.loads(sys.argv[2])
    browser = Browser(binary)
    try:
        print(json.dumps([browser.step(step) for step in steps]))
    finally:
        browser.close()


if __name__ == "__main__":
    main()
