// Drives Debian's headless Chromium (playwright-core) through one visit of a stage page and prints
// what happened as JSON: every HTTP request and WebSocket in order (with times), what the page
// showed, console messages and CSP violations. tests/test_stage_browser.py makes the assertions.
//
// Input (JSON in argv[2]): {url, cookie?: {name, value}, screenshot?, clickRetry?}
import { chromium } from "playwright-core";

const input = JSON.parse(process.argv[2]);
const result = { requests: [], websockets: [], console: [], pageErrors: [], cspViolations: [] };

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"],
});
try {
  const context = await browser.newContext({ viewport: { width: 1000, height: 700 } });
  if (input.cookie) {
    const { hostname } = new URL(input.url);
    await context.addCookies([{ name: input.cookie.name, value: input.cookie.value, domain: hostname, path: "/" }]);
  }
  const page = await context.newPage();
  const now = () => Date.now() / 1000;
  page.on("request", (r) => result.requests.push({ url: r.url(), method: r.method(), at: now() }));
  page.on("websocket", (ws) => result.websockets.push({ url: ws.url(), at: now() }));
  page.on("console", (m) => result.console.push(`${m.type()}: ${m.text()}`));
  page.on("pageerror", (e) => result.pageErrors.push(String(e)));
  await page.exposeFunction("__reportCsp", (v) => result.cspViolations.push(v));
  await page.addInitScript(() => {
    document.addEventListener("securitypolicyviolation", (e) => window.__reportCsp(`${e.violatedDirective} ${e.blockedURI}`));
  });

  const response = await page.goto(input.url, { waitUntil: "domcontentloaded" });
  result.status = response.status();
  result.h1 = await page.locator("h1").first().textContent().catch(() => null);
  result.hasCameraButton = (await page.locator("#join-camera").count()) > 0;
  const waitForMessage = async () => {
    await page.waitForFunction(() => {
      const s = document.getElementById("status");
      return s && !s.hidden && !document.getElementById("retry").hidden;
    }, null, { timeout: 60000 }).catch(() => {});
    return page.evaluate(() => {
      const s = document.getElementById("status");
      return s && !s.hidden ? document.getElementById("status-text").textContent : null;
    });
  };
  result.message = await waitForMessage();
  result.connection = await page.evaluate(() => document.body.getAttribute("data-connection"));
  if (input.screenshot) await page.screenshot({ path: input.screenshot });
  if (input.clickRetry && result.message) {
    result.retryClickedAt = now();
    // Hide the first message, then press Retry (the page shows a message again on the next failure).
    await page.evaluate(() => { document.getElementById("status").hidden = true; document.getElementById("retry").click(); });
    result.messageAfterRetry = await waitForMessage();
  }
} finally {
  await browser.close();
}
process.stdout.write(JSON.stringify(result));
