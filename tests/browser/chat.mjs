// Drives the real IVS Chat messaging SDK (the bundled public/sdk/amazon-ivs-chat-messaging.min.js,
// global IVSChatMessaging) in Debian's headless Chromium (playwright-core), one step at a time, so
// a pytest test can act between steps (a DisconnectUser API call, a look at the stand-in).
// tests/test_ivs_chat_standin.py makes the assertions.
//
// Input (JSON in argv[2]): {sdk: path of the bundle}. Prints {"ready": true}, then answers each
// line of standard input, {"fn": NAME, "args": [...]}, with one line {"result": ...} or
// {"error": "..."}: NAME is a function of window.chatTest below. Standard input closed: it exits.
import { chromium } from "playwright-core";
import { createServer } from "node:http";
import { createInterface } from "node:readline";

const input = JSON.parse(process.argv[2]);
const diagnostics = { console: [], pageErrors: [] };
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"],
});
const page = await (await browser.newContext()).newPage();
page.on("console", (m) => diagnostics.console.push(`${m.type()}: ${m.text()}`));
page.on("pageerror", (e) => diagnostics.pageErrors.push(String(e)));
// The page comes from a loopback server, as the worker's does under `make dev`: Chromium's local
// network access checks block a WebSocket to 127.0.0.1 from about:blank (or a page Playwright
// fulfils itself), as they would from any public page.
const server = createServer((_req, res) => res.end("<!doctype html><title>chat</title>"));
await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
await page.goto(`http://127.0.0.1:${server.address().port}/`);
await page.addScriptTag({ path: input.sdk });
await page.addScriptTag({ content: `
  // Everything a room reports, in order, JSON-safe (Dates become ISO strings).
  const plain = (v) => v === undefined ? null : JSON.parse(JSON.stringify(v));
  const until = async (test, ms) => {
    for (const end = Date.now() + ms; Date.now() < end; await new Promise((r) => setTimeout(r, 50))) {
      if (test()) return true;
    }
    return test();
  };
  window.chatTest = {
    rooms: {}, logs: {},
    // A ChatRoom whose tokenProvider hands out the given CreateChatToken answers, one per call
    // (the SDK calls it on every connect and reconnect); resolves once connected or disconnected.
    async connect(name, url, tokens, maxReconnectAttempts) {
      const log = this.logs[name] = [];
      const queue = tokens.slice();
      const room = new IVSChatMessaging.ChatRoom({
        regionOrUrl: url, maxReconnectAttempts,
        tokenProvider: async () => {
          log.push({ type: "tokenRequested" });
          if (!queue.length) throw new Error("no token left");
          return queue.shift();
        },
      });
      room.logLevel = "error";
      for (const type of ["connecting", "connect", "disconnect", "message", "messageDelete", "userDisconnect", "event"]) {
        room.addListener(type, (payload) => log.push({ type, payload: plain(payload) }));
      }
      this.rooms[name] = room;
      room.connect();
      await until(() => log.some((e) => e.type === "connect" || e.type === "disconnect"), 15000);
      return { state: room.state, log };
    },
    // A request's outcome: the SDK resolves it on the frame carrying its RequestId and rejects it
    // on an ERROR; a frame the SDK cannot parse leaves it pending, reported after 10 s.
    async request(name, promise) {
      const timeout = new Promise((resolve) => setTimeout(() => resolve({ pending: true }), 10000));
      const outcome = promise.then((v) => ({ ok: plain(v) }),
        (e) => ({ rejected: plain(e instanceof Error ? { name: e.name, message: e.message } : e) }));
      return Promise.race([outcome, timeout]);
    },
    send(name, content, attributes) {
      return this.request(name, this.rooms[name].sendMessage(new IVSChatMessaging.SendMessageRequest(content, attributes ?? undefined)));
    },
    deleteMessage(name, id, reason) {
      return this.request(name, this.rooms[name].deleteMessage(new IVSChatMessaging.DeleteMessageRequest(id, reason ?? undefined)));
    },
    disconnectUser(name, userId, reason) {
      return this.request(name, this.rooms[name].disconnectUser(new IVSChatMessaging.DisconnectUserRequest(userId, reason ?? undefined)));
    },
    // The room's log once it holds \`count\` entries of \`type\` (or after \`ms\`).
    async waitFor(name, type, count, ms) {
      await until(() => this.logs[name].filter((e) => e.type === type).length >= count, ms);
      return { state: this.rooms[name].state, log: this.logs[name] };
    },
    exports() { return Object.keys(IVSChatMessaging).sort(); },
  };
` });
process.stdout.write(JSON.stringify({ ready: true }) + "\n");

for await (const line of createInterface({ input: process.stdin })) {
  const { fn, args } = JSON.parse(line);
  let reply;
  try {
    reply = fn === "diagnostics" ? { result: diagnostics }
      : { result: await page.evaluate(([f, a]) => window.chatTest[f](...a), [fn, args]) };
  } catch (e) {
    reply = { error: String(e) };
  }
  process.stdout.write(JSON.stringify(reply) + "\n");
}
await browser.close();
server.close();
