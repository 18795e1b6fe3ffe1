// Two viewers' browsers on one account at a device limit of 1 (two browser contexts of Debian's
// headless Chromium, playwright-core): the first plays; the second is refused, clicks "Watch here
// instead" and plays; the first stops and says why. Prints JSON with what each page showed and
// every heartbeat's status; tests/test_devices_browser.py makes the assertions.
//
// Input (JSON in argv[2]): {url (the watch page), cookie: {name, value}, screenshots: [first, second]}
import { chromium } from "playwright-core";

const input = JSON.parse(process.argv[2]);
const out = { first: { heartbeats: [] }, second: { heartbeats: [] }, pageErrors: [] };
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--autoplay-policy=no-user-gesture-required"],
});

async function open(name) {
  const context = await browser.newContext({ viewport: { width: 1000, height: 700 } });
  const { hostname } = new URL(input.url);
  await context.addCookies([{ name: input.cookie.name, value: input.cookie.value, domain: hostname, path: "/" }]);
  const page = await context.newPage();
  page.on("pageerror", (e) => out.pageErrors.push(`${name}: ${e}`));
  page.on("response", (r) => {
    if (r.url().includes("/v1/heartbeat")) out[name].heartbeats.push(r.status());
  });
  return page;
}

const playing = (page) => page.waitForFunction(() => {
  const v = document.querySelector("video");
  return v && v.currentTime > 0.5 && !v.paused;
}, null, { timeout: 45000 }).then(() => true, () => false);

const state = (page) => page.evaluate(() => {
  const v = document.querySelector("video");
  const s = document.getElementById("status");
  return {
    state: document.body.getAttribute("data-state"),
    message: s && !s.hidden ? document.getElementById("status-text").textContent : null,
    // The takeover is a form POST (issue 22): where its button posts to.
    takeover: document.getElementById("takeover")?.closest("form")?.getAttribute("action") ?? null,
    takeoverIsLink: document.querySelector("a[href*='takeover']") !== null,
    video: v ? { currentTime: v.currentTime, paused: v.paused } : null,
  };
});

try {
  const first = await open("first");
  out.first.status = (await first.goto(input.url, { waitUntil: "domcontentloaded" })).status();
  out.first.played = await playing(first);

  const second = await open("second");
  out.second.status = (await second.goto(input.url, { waitUntil: "domcontentloaded" })).status();
  out.second.refusal = await second.locator("main").textContent();
  // A button that POSTs (never a link any site could make); the worker answers 303 to the page.
  const link = second.getByRole("button", { name: "Watch here instead" });
  out.second.offered = (await link.count()) === 1;
  out.second.offeredAsLink = (await second.getByRole("link", { name: "Watch here instead" }).count()) > 0;
  if (out.second.offered) {
    await Promise.all([second.waitForNavigation({ waitUntil: "domcontentloaded" }), link.click()]);
    out.second.urlAfterTakeover = second.url();
    out.second.played = await playing(second);
  }

  const stoppedAt = Date.now();
  out.first.stopped = await first.waitForFunction(() => document.body.getAttribute("data-state") === "evicted",
    null, { timeout: 30000 }).then(() => true, () => false);
  out.first.stoppedAfterMs = Date.now() - stoppedAt;
  out.first.after = await state(first);
  const before = (await state(second)).video;
  await second.waitForTimeout(2500);
  out.second.after = await state(second);
  out.second.advanced = before && out.second.after.video ? out.second.after.video.currentTime - before.currentTime : 0;
  if (input.screenshots) {
    await first.screenshot({ path: input.screenshots[0] });
    await second.screenshot({ path: input.screenshots[1] });
  }
} finally {
  await browser.close();
}
process.stdout.write(JSON.stringify(out));
