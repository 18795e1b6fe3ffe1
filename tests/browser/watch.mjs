// Drives Debian's headless Chromium (playwright-core) through one visit of a watch page and prints
// what happened as JSON: every request in order, the video element's progress, what the page
// showed, console messages and CSP violations. tests/test_watch_browser.py makes the assertions.
//
// Input (JSON in argv[2]): {url, cookie?: {name, value}, screenshot?, waitForPlayback?, clickRetry?}
import { chromium } from "playwright-core";

const input = JSON.parse(process.argv[2]);
const result = { requests: [], console: [], pageErrors: [], cspViolations: [], navigations: [] };

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
  ],
});
try {
  const context = await browser.newContext({ viewport: { width: 1000, height: 700 } });
  if (input.cookie) {
    // Path=/ like the worker's own Set-Cookie (a cookie added by URL would get the page's path).
    const { hostname } = new URL(input.url);
    await context.addCookies([{ name: input.cookie.name, value: input.cookie.value, domain: hostname, path: "/" }]);
  }
  const page = await context.newPage();
  const started = Date.now();
  page.on("request", (r) => result.requests.push({ url: r.url(), method: r.method(), at: Date.now() - started }));
  page.on("response", (r) => {
    const entry = result.requests.find((q) => q.url === r.url() && q.status === undefined);
    if (entry) entry.status = r.status();
  });
  page.on("console", (m) => result.console.push(`${m.type()}: ${m.text()}`));
  page.on("pageerror", (e) => result.pageErrors.push(String(e)));
  await page.exposeFunction("__reportCsp", (v) => result.cspViolations.push(v));
  await page.addInitScript(() => {
    document.addEventListener("securitypolicyviolation", (e) =>
      window.__reportCsp(`${e.violatedDirective} ${e.blockedURI}`));
  });

  const response = await page.goto(input.url, { waitUntil: "domcontentloaded" });
  result.status = response.status();
  result.finalUrl = page.url();
  result.title = await page.title();
  result.h1 = await page.locator("h1").first().textContent().catch(() => null);
  result.hasVideo = (await page.locator("video").count()) > 0;

  const progress = async () => page.evaluate(() => {
    const v = document.querySelector("video");
    return v ? { currentTime: v.currentTime, readyState: v.readyState, paused: v.paused } : null;
  });
  const statusText = async () => page.evaluate(() => {
    const s = document.getElementById("status");
    return s && !s.hidden ? document.getElementById("status-text").textContent : null;
  });

  if (input.waitForMessage) {
    await page.waitForFunction(() => {
      const s = document.getElementById("status");
      return s && !s.hidden && !document.getElementById("retry").hidden;
    }, null, { timeout: 30000 }).catch(() => {});
    result.message = await statusText();
    if (input.clickRetry) {
      await page.click("#retry");
    }
  }
  if (input.waitForPlayback) {
    await page.waitForFunction(() => {
      const v = document.querySelector("video");
      return v && v.currentTime > 0.5;
    }, null, { timeout: 45000 }).catch(() => {});
    result.progressFirst = await progress();
    await page.waitForTimeout(1500);
    result.progressLater = await progress();
  }
  result.message = result.message ?? (await statusText());
  result.messageAfter = await statusText();
  result.pwned = await page.evaluate(() => window.__pwned === true);
  if (input.screenshot) {
    await page.screenshot({ path: input.screenshot });
  }
} finally {
  await browser.close();
}
process.stdout.write(JSON.stringify(result));
