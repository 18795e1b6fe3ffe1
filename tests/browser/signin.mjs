// Sign-in at the edge in Debian's headless Chromium (playwright-core): a viewer opens the watch page,
// lands on the identity provider's login form (npm oidc-provider's devInteractions), signs in, comes
// back and the video plays; then, optionally, the session expires while the video plays: IVS refuses
// the token (the playlist answers 403), the page asks /v1/token for a fresh one, gets 401 and reloads,
// and the reload renews the session through the provider with no click; then the same on opening the
// page with an expired session; then logout (the provider asks "sign out?", the viewer says yes); then the
// watch page again, which shows the login form once more. Prints JSON, one entry per phase;
// tests/test_signin.py makes the assertions.
//
// Input (JSON in argv[2]): {base, watch, login, expired?: {name, value}, playlist?: a substring of the
//   stream's playlist URL, logout?: bool, screenshot?}
import { chromium } from "playwright-core";

const input = JSON.parse(process.argv[2]);
const out = { phases: {}, console: [], pageErrors: [] };
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--autoplay-policy=no-user-gesture-required"],
});

try {
  const context = await browser.newContext({ viewport: { width: 1000, height: 700 } });
  const page = await context.newPage();
  let requests = [];
  page.on("request", (r) => requests.push({ url: r.url(), method: r.method(), nav: r.isNavigationRequest() }));
  page.on("console", (m) => out.console.push(`${m.type()}: ${m.text()}`));
  page.on("pageerror", (e) => out.pageErrors.push(String(e)));
  const watchUrl = input.base + input.watch;

  const playing = () => page.waitForFunction(() => {
    const v = document.querySelector("video");
    return v && v.currentTime > 0.5;
  }, null, { timeout: 45000 }).then(() => true).catch(() => false);

  const snapshot = async () => ({
    url: page.url(),
    title: await page.title().catch(() => null),
    h1: await page.locator("h1").first().textContent({ timeout: 2000 }).catch(() => null),
    html: await page.content(),
  });

  // The provider's forms, as a person fills them: login, then consent (only the first time).
  const throughProvider = async () => {
    let forms = 0;
    for (let i = 0; i < 4; i++) {
      await page.waitForLoadState("domcontentloaded");
      if (page.url().startsWith(input.base)) break;
      if (await page.locator('input[name="login"]').count()) {
        await page.fill('input[name="login"]', input.login);
        await page.fill('input[name="password"]', "any password");
      } else if (!(await page.locator('input[name="prompt"][value="consent"]').count())) {
        break;
      }
      forms += 1;
      await Promise.all([page.waitForNavigation({ timeout: 30000 }), page.click('button[type="submit"]')]);
    }
    return forms;
  };

  // 1. First visit: the provider's login form, then back, then playback.
  await page.goto(watchUrl, { waitUntil: "domcontentloaded", timeout: 60000 });
  const landed = await snapshot();
  const formsFilled = await throughProvider();
  await page.waitForURL((u) => u.href.startsWith(watchUrl), { timeout: 30000 }).catch(() => {});
  out.phases.signIn = { landedOn: landed.url, landedTitle: landed.title, formsFilled, played: await playing(),
                        ...(await snapshot()), requests };
  if (input.screenshot) await page.screenshot({ path: input.screenshot });

  // 2a. The session expires as the page starts: the page opens with a valid session, and as the player
  // asks for the stream, the session cookie is replaced by an expired one and IVS refuses the token
  // (the first playlist request answers 403). The page's own renewal path does the rest: /v1/token
  // answers 401, the page reloads once, the reload goes through sign-in.
  if (input.expired && input.playlist) {
    const { hostname } = new URL(input.base);
    let refused = 0;
    await context.route((url) => url.href.includes(input.playlist), async (route) => {
      if (refused > 0) return route.continue();
      refused += 1;
      await context.clearCookies({ name: "ivs-signin-recent" });
      await context.addCookies([{ name: input.expired.name, value: input.expired.value, domain: hostname, path: "/" }]);
      return route.fulfill({ status: 403, contentType: "text/plain", body: "token refused (test)" });
    });
    requests = [];
    await page.goto(watchUrl, { waitUntil: "domcontentloaded", timeout: 60000 });
    const left = await page.waitForRequest((r) => r.url().startsWith(input.base + "/login"), { timeout: 60000 })
      .then(() => true).catch(() => false);
    await page.waitForURL((u) => u.href.startsWith(watchUrl), { timeout: 30000 }).catch(() => {});
    out.phases.renewByPage = { left, refused, played: await playing(), ...(await snapshot()), requests };
    await context.unroute((url) => url.href.includes(input.playlist));
  }

  // 2b. Opening the page with an expired session renews it through the provider, without a click.
  if (input.expired) {
    const { hostname } = new URL(input.base);
    await context.clearCookies({ name: "ivs-signin-recent" });
    await context.addCookies([{ name: input.expired.name, value: input.expired.value, domain: hostname, path: "/" }]);
    requests = [];
    await page.goto(watchUrl, { waitUntil: "domcontentloaded", timeout: 60000 });
    await page.waitForURL((u) => u.href.startsWith(watchUrl), { timeout: 30000 }).catch(() => {});
    out.phases.renew = { played: await playing(), ...(await snapshot()), requests };
  }

  // 3. Logout: the provider asks, the viewer says yes, the worker's /logout says signed out.
  if (input.logout) {
    requests = [];
    await page.goto(input.base + "/logout", { waitUntil: "domcontentloaded", timeout: 60000 });
    const asked = await snapshot();
    if (await page.locator('button[name="logout"]').count()) {
      await Promise.all([page.waitForNavigation({ timeout: 30000 }), page.click('button[name="logout"]')]);
    }
    await page.waitForURL((u) => u.href.startsWith(input.base + "/logout"), { timeout: 30000 }).catch(() => {});
    const cookies = await context.cookies(input.base);
    out.phases.logout = { askedAt: asked.url, ...(await snapshot()), requests,
                          sessionCookie: cookies.some((c) => c.name === (input.expired?.name || "session")) };
    // 4. The watch page again: the provider's login form, not the video.
    requests = [];
    await page.goto(watchUrl, { waitUntil: "domcontentloaded", timeout: 60000 });
    out.phases.after = { loginForm: (await page.locator('input[name="login"]').count()) > 0, ...(await snapshot()) };
  }
} finally {
  await browser.close();
}
process.stdout.write(JSON.stringify(out));
