// Drives Debian's headless Chromium (playwright-core) through one visit of a watch page and prints
// what happened as JSON: every request in order, the video element's progress, what the page
// showed, console messages and CSP violations. tests/test_watch_browser.py makes the assertions.
//
// Input (JSON in argv[2]): {url, cookie?: {name, value}, screenshot?, waitForPlayback?, clickRetry?,
//   waitForMessage?, playbackSeconds?, and faults on the requests for the stream's playlist
//   (`playlist`, a substring of its URL): tamper: "all" | "first" (one character of the token's
//   signature changed), holdUntilExpired (the first playlist request waits until its token's exp
//   has passed), signOutFirst (the session cookie is removed when the first playlist is requested),
//   offline: a substring of URLs that fail as a network error (the stream host),
//   computed?: [[selector, property], ...] (each element's computed style, once the page has
//   loaded, as result.computed["selector property"]), images?: true (every <img>: src, alt,
//   complete, naturalWidth, once the page has loaded)}
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
  if (input.playlist) {
    let seen = 0;
    await context.route((url) => url.href.includes(input.playlist), async (route) => {
      const url = new URL(route.request().url());
      const first = seen++ === 0;
      const token = url.searchParams.get("token") || "";
      if (first && input.holdUntilExpired) {
        const exp = JSON.parse(Buffer.from(token.split(".")[1], "base64url").toString()).exp;
        const wait = exp * 1000 + 1500 - Date.now();
        result.heldMs = Math.max(0, wait);
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      }
      if (first && input.signOutFirst) {
        await context.clearCookies();
      }
      if (input.tamper === "all" || (input.tamper === "first" && first)) {
        // Change one character in the middle of the signature: a token IVS must refuse.
        const at = token.lastIndexOf(".") + 10;
        const swapped = token[at] === "A" ? "B" : "A";
        url.searchParams.set("token", token.slice(0, at) + swapped + token.slice(at + 1));
        return route.continue({ url: url.href });
      }
      return route.continue();
    });
  }
  if (input.offline) {
    await context.route((url) => url.href.includes(input.offline), (route) => route.abort("internetdisconnected"));
  }
  const page = await context.newPage();
  const started = Date.now();
  const entries = new Map();
  page.on("request", (r) => {
    const entry = { url: r.url(), method: r.method(), at: Date.now() - started };
    entries.set(r, entry);
    result.requests.push(entry);
  });
  page.on("response", (r) => {
    const entry = entries.get(r.request());
    if (entry) entry.status = r.status();
  });
  page.on("requestfailed", (r) => {
    const entry = entries.get(r);
    if (entry) entry.failure = r.failure() && r.failure().errorText;
  });
  page.on("console", (m) => result.console.push(`${m.type()}: ${m.text()}`));
  page.on("pageerror", (e) => result.pageErrors.push(String(e)));
  await page.exposeFunction("__reportCsp", (v) => result.cspViolations.push(v));
  await page.addInitScript(() => {
    document.addEventListener("securitypolicyviolation", (e) =>
      window.__reportCsp(`${e.violatedDirective} ${e.blockedURI}`));
  });

  const response = await page.goto(input.url, { waitUntil: "domcontentloaded", timeout: 60000 });
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
    // A message a viewer can act on: shown with its Retry button (or any message, if "any").
    await page.waitForFunction((any) => {
      const s = document.getElementById("status");
      return s && !s.hidden && (any || !document.getElementById("retry").hidden);
    }, input.waitForMessage === "any", { timeout: 45000 }).catch(() => {});
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
    if (input.playbackSeconds) {
      await page.waitForFunction((t) => {
        const v = document.querySelector("video");
        return v && v.currentTime > t;
      }, input.playbackSeconds, { timeout: 60000 }).catch(() => {});
      result.progressEnd = await progress();
    }
  }
  result.finalUrl = page.url();
  result.message = result.message ?? (await statusText());
  result.messageAfter = await statusText();
  if (input.computed || input.images) {
    await page.waitForLoadState("load", { timeout: 30000 }).catch(() => {});
  }
  if (input.computed) {
    result.computed = await page.evaluate((pairs) => Object.fromEntries(pairs.map(([selector, property]) => {
      const element = document.querySelector(selector);
      return [`${selector} ${property}`, element ? getComputedStyle(element).getPropertyValue(property) : null];
    })), input.computed);
  }
  if (input.images) {
    result.images = await page.evaluate(() => [...document.images].map((i) => (
      { src: i.currentSrc || i.src, alt: i.alt, complete: i.complete, naturalWidth: i.naturalWidth })));
  }
  result.pwned = await page.evaluate(() => window.__pwned === true);
  if (input.screenshot) {
    await page.screenshot({ path: input.screenshot });
  }
} finally {
  await browser.close();
}
process.stdout.write(JSON.stringify(result));
