// Opens one page in Debian's headless Chromium (playwright-core), waits until the page sets
// `window.__result` (or 30 s pass), and prints JSON: {result, console, pageErrors, requests}.
// tests/test_identity_browser.py makes the assertions.
//
// Input (JSON in argv[2]): {url}
import { chromium } from "playwright-core";

const input = JSON.parse(process.argv[2]);
const out = { result: null, console: [], pageErrors: [], requests: [] };
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"],
});
try {
  const page = await (await browser.newContext()).newPage();
  page.on("console", (m) => out.console.push(`${m.type()}: ${m.text()}`));
  page.on("pageerror", (e) => out.pageErrors.push(String(e)));
  page.on("request", (r) => out.requests.push({ url: r.url(), method: r.method(), headers: r.headers() }));
  await page.goto(input.url, { waitUntil: "domcontentloaded" });
  await page.waitForFunction(() => window.__result !== undefined, null, { timeout: 30000 }).catch(() => {});
  out.result = await page.evaluate(() => window.__result ?? null);
  out.origin = await page.evaluate(() => location.origin);
} finally {
  await browser.close();
}
process.stdout.write(JSON.stringify(out));
