// Drives the watch page's chat panel (web/chat.js) in Debian's headless Chromium (playwright-core)
// for several viewers at once, each in its own browser context (its own cookies), one step at a
// time, so a pytest test can act and look at the stand-in between steps.
// tests/test_chat_browser.py makes the assertions.
//
// Input (JSON in argv[2]): {}. Prints {"ready": true}, then answers each line of standard input,
// {"fn": NAME, "args": [...]}, with one line {"result": ...} or {"error": "..."}. Functions:
//   open(name, url, cookie, width?)   a new context with the session cookie opens the page; resolves
//                                     once the panel is connected or stopped (or after 20 s)
//   panel(name)                       what the panel shows (see PANEL below), and `said`: every
//                                     sentence its status line showed
//   send(name, text)                  types into the input and presses Send
//   act(name, text, button)           clicks `button` ("delete" or "disconnect") on the message `text`
//   waitFor(name, kind, arg, ms)      waits until the panel shows the message `arg` (kind "message"),
//                                     no longer shows it ("noMessage") or is in state `arg`
//                                     ("state"); then panel()
//   diagnostics(name)                 console, page errors, CSP violations, requests
// Standard input closed: it exits.
import { chromium } from "playwright-core";
import { createInterface } from "node:readline";

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--autoplay-policy=no-user-gesture-required"],
});
const viewers = {};

// Everything the panel shows, read from the DOM the way a viewer sees it.
const PANEL = () => {
  const panel = document.getElementById("chat");
  if (!panel) return null;
  const text = (id) => { const e = document.getElementById(id); return e && !e.hidden ? e.textContent : null; };
  const input = document.getElementById("chat-input");
  const box = panel.getBoundingClientRect();
  const stage = document.querySelector(".stage").getBoundingClientRect();
  return {
    state: panel.getAttribute("data-chat-state"),
    role: panel.getAttribute("data-role"),
    status: text("chat-status"),
    reason: text("chat-reason"),
    inputDisabled: input.disabled,
    sendDisabled: document.getElementById("chat-send").disabled,
    beside: box.left >= stage.right - 1 && box.top < stage.bottom,
    messages: [...document.querySelectorAll("#chat-messages > li")].map((li) => ({
      id: li.getAttribute("data-id"),
      name: li.querySelector(".chat-name").textContent,
      role: li.querySelector(".chat-role").textContent,
      text: li.querySelector(".chat-text").textContent,
      textChildren: li.querySelector(".chat-text").childElementCount,
      mine: li.classList.contains("mine"),
      buttons: [...li.querySelectorAll("button")].map((b) => b.textContent),
    })),
    // Elements no message may create: markup in a message must stay text.
    injected: document.querySelectorAll("#chat-messages img, #chat-messages script, #chat-messages b").length,
    pwned: window.__pwned === true,
    said: window.__said,
  };
};

// Polls `test(arg)` on the page until true or `ms` pass. page.evaluate goes through the DevTools
// protocol, outside the page's CSP; Playwright's waitForFunction builds its predicate with an
// eval inside the page, which the CSP reports as a violation.
async function until(page, test, arg, ms) {
  for (const end = Date.now() + ms; Date.now() < end; await new Promise((r) => setTimeout(r, 50))) {
    if (await page.evaluate(test, arg)) return true;
  }
  return page.evaluate(test, arg);
}

async function open(name, url, cookie, width) {
  const context = await browser.newContext({ viewport: { width: width || 1100, height: 800 } });
  const { hostname } = new URL(url);
  await context.addCookies([{ name: cookie.name, value: cookie.value, domain: hostname, path: "/" }]);
  // CSP violations, as the page reports them to itself.
  await context.addInitScript(() => {
    window.__csp = [];
    document.addEventListener("securitypolicyviolation", (e) => window.__csp.push(`${e.violatedDirective} ${e.blockedURI}`));
    // Every sentence the status line showed, in order (a retry's message is gone once connected).
    window.__said = [];
    document.addEventListener("DOMContentLoaded", () => {
      const line = document.getElementById("chat-status");
      if (!line) return;
      new MutationObserver(() => {
        if (line.textContent && window.__said[window.__said.length - 1] !== line.textContent) window.__said.push(line.textContent);
      }).observe(line, { childList: true, characterData: true, subtree: true });
    });
  });
  const page = await context.newPage();
  const viewer = viewers[name] = { context, page, console: [], pageErrors: [], requests: [] };
  page.on("console", (m) => viewer.console.push(`${m.type()}: ${m.text()}`));
  page.on("pageerror", (e) => viewer.pageErrors.push(String(e)));
  page.on("request", (r) => viewer.requests.push({ url: r.url(), method: r.method() }));
  page.on("dialog", (d) => { viewer.pageErrors.push(`dialog: ${d.message()}`); d.dismiss(); });
  const response = await page.goto(url, { waitUntil: "domcontentloaded" });
  viewer.status = response.status();
  viewer.csp = response.headers()["content-security-policy"];
  await until(page, () => {
    const state = document.getElementById("chat")?.getAttribute("data-chat-state");
    return state === "connected" || state === "stopped";
  }, null, 20000);
  return { status: viewer.status, csp: viewer.csp, panel: await page.evaluate(PANEL) };
}

const steps = {
  open,
  panel: (name) => viewers[name].page.evaluate(PANEL),
  async send(name, text) {
    const { page } = viewers[name];
    await page.fill("#chat-input", text);
    await page.click("#chat-send");
    return page.evaluate(PANEL);
  },
  async act(name, text, button) {
    const { page } = viewers[name];
    const item = page.locator("#chat-messages > li").filter({ has: page.locator(".chat-text", { hasText: text }) });
    await item.locator(button === "delete" ? ".chat-delete" : ".chat-disconnect").first().click();
    return page.evaluate(PANEL);
  },
  // A predicate by name: the page's CSP refuses eval, so no code travels as a string.
  async waitFor(name, kind, arg, ms) {
    const { page } = viewers[name];
    await until(page, ([kind, value]) => {
      const texts = [...document.querySelectorAll("#chat-messages .chat-text")].map((e) => e.textContent);
      const state = document.getElementById("chat").getAttribute("data-chat-state");
      return kind === "message" ? texts.includes(value) : kind === "noMessage" ? !texts.includes(value) : state === value;
    }, [kind, arg], ms);
    return page.evaluate(PANEL);
  },
  async diagnostics(name) {
    const viewer = viewers[name];
    const csp = await viewer.page.evaluate(() => window.__csp);
    return { console: viewer.console, pageErrors: viewer.pageErrors, cspViolations: csp, requests: viewer.requests };
  },
};

process.stdout.write(JSON.stringify({ ready: true }) + "\n");
for await (const line of createInterface({ input: process.stdin })) {
  const { fn, args } = JSON.parse(line);
  let reply;
  try {
    reply = { result: await steps[fn](...args) };
  } catch (e) {
    reply = { error: String(e) };
  }
  process.stdout.write(JSON.stringify(reply) + "\n");
}
await browser.close();
