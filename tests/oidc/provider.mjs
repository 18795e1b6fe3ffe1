// A real OpenID Connect provider (npm `oidc-provider`, certified) on loopback, for the identity tests.
//
// Usage: node tests/oidc/provider.mjs '{"port": 0, "admin_port": 0, "redirect_uris": [], "logout_uris": []}'
// Prints one JSON line on stdout once listening: {"issuer", "port", "admin_port", "jwks_uri", "clients"}.
//
// The provider itself: issuer http://127.0.0.1:PORT, devInteractions (its built-in login and consent
// forms, any login name is accepted), the authorization-code flow with PKCE, two confidential
// clients: `rp-rs256` (ID tokens RS256) and `rp-es256` (ID tokens ES256), and a public one,
// `rp-public` (no secret: PKCE alone). ID tokens carry the scope claims (`groups`, and the namespaced
// `https://example.com/roles`) of the account. `redirect_uris` and `logout_uris` add a relying
// party's callback and post-logout URLs (a worker's /callback/NAME, NAME being the provider's name in its
// IDENTITY_PROVIDERS, and /logout) to every client; RP-initiated logout (the end_session endpoint) asks
// "Do you want to sign-out?" before it redirects back. Authorization responses carry RFC 9207's `iss`
// and the discovery document says `authorization_response_iss_parameter_supported: true`: oidc-provider
// 9 does both unconditionally (no `issAuthResp` feature flag to turn on: lib/actions/authorization/
// respond.js sets `iss`, lib/actions/discovery.js the flag), so the worker's `iss` check runs here.
//
// The admin side channel (a second HTTP server, loopback):
//   POST /account   {"sub", "groups"}    groups (and roles) the account will have in its next tokens
//   POST /rotate    {"keep_old": true}   new RSA and EC signing keys, first in the JWKS (new tokens are
//                                         signed with them); the old ones are kept (or dropped)
//   POST /down      {"mode": "503"|"garbage"|"closed"}   the provider answers 503 / non-JSON / closes its
//                                         listening socket and every open connection
//   POST /up                             back to normal (same port, same keys)
//   POST /delay     {"ms": 300}          the JWKS endpoint answers that much later (at most 5 s)
//   GET  /stats                          {"jwks_fetches", "jwks_attempts", "last_fetch_at", "kids", "mode",
//                                         "token_requests": POSTs to the token endpoint, whatever the answer,
//                                         "interactions_started": login or consent pages the provider sent a
//                                         browser to, "authorizations": one entry per authorization answer,
//                                         oldest first: {"route": "authorization"|"resume", "prompt": the
//                                         request's `prompt` parameter or null, "outcome": "code",
//                                         "interaction:login", "interaction:consent" or "error:<code>"}}
// Everything stops when stdin closes (the test process exits) or on SIGTERM.
import http from "node:http";
import crypto from "node:crypto";
import Provider from "oidc-provider";

const opts = JSON.parse(process.argv[2] || "{}");
const HOST = "127.0.0.1";

function newKeys() {
  const rsa = crypto.generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey.export({ format: "jwk" });
  const ec = crypto.generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey.export({ format: "jwk" });
  const stamp = crypto.randomBytes(6).toString("hex");
  return [
    { ...rsa, kid: `rsa-${stamp}`, use: "sig", alg: "RS256" },
    { ...ec, kid: `ec-${stamp}`, use: "sig", alg: "ES256" },
  ];
}

const accounts = new Map(); // sub -> groups
let keys = newKeys();
let mode = "up";
let jwksFetches = 0; // JWKS documents served with 200
let jwksAttempts = 0; // every request for the JWKS path, whatever the answer
let lastFetchAt = null; // epoch seconds of the last JWKS served with 200
let jwksDelayMs = 0; // a slow key endpoint, so that concurrent refetches overlap
let tokenRequests = 0; // POSTs to the token endpoint (a code exchange tried), whatever the answer
let interactionsStarted = 0; // a browser sent to a login or consent page
const authorizations = []; // how each authorization request was answered (see /stats)
let provider;
let handler;

// The listening socket is bound before the provider is built: the issuer needs the port.
const server = http.createServer((req, res) => route(req, res));
const sockets = new Set();
server.on("connection", (s) => {
  sockets.add(s);
  s.on("close", () => sockets.delete(s));
});
await new Promise((resolve) => server.listen(opts.port || 0, HOST, resolve));
const port = server.address().port;
const issuer = `http://${HOST}:${port}`;
const redirectUri = `http://${HOST}:${port}/cb`;
const redirectUris = [redirectUri, ...(opts.redirect_uris || [])];
const logoutUris = opts.logout_uris || [];

function build() {
  provider = new Provider(issuer, {
    clients: [
      {
        client_id: "rp-rs256",
        client_secret: "rp-rs256-secret",
        redirect_uris: redirectUris,
        post_logout_redirect_uris: logoutUris,
        grant_types: ["authorization_code"],
        response_types: ["code"],
        id_token_signed_response_alg: "RS256",
      },
      {
        client_id: "rp-es256",
        client_secret: "rp-es256-secret",
        redirect_uris: redirectUris,
        post_logout_redirect_uris: logoutUris,
        grant_types: ["authorization_code"],
        response_types: ["code"],
        id_token_signed_response_alg: "ES256",
      },
      {
        client_id: "rp-public",
        token_endpoint_auth_method: "none",
        redirect_uris: redirectUris,
        post_logout_redirect_uris: logoutUris,
        grant_types: ["authorization_code"],
        response_types: ["code"],
        id_token_signed_response_alg: "RS256",
      },
    ],
    jwks: { keys },
    claims: { openid: ["sub"], groups: ["groups", "https://example.com/roles"] },
    // Scope claims in the ID token itself (code flow), not only at userinfo.
    conformIdTokenClaims: false,
    features: { devInteractions: { enabled: true } },
    pkce: { required: () => true },
    cookies: { keys: ["idtests-cookie-key"], short: { secure: false }, long: { secure: false } },
    ttl: { IdToken: 3600, AccessToken: 3600, AuthorizationCode: 60, Interaction: 600, Session: 600, Grant: 600 },
    async findAccount(ctx, id) {
      return {
        accountId: id,
        async claims() {
          const groups = accounts.get(id) ?? [];
          return { sub: id, groups, "https://example.com/roles": groups };
        },
      };
    },
    renderError(ctx, out) {
      ctx.type = "json";
      ctx.body = out;
    },
  });
  provider.on("server_error", (ctx, err) => process.stderr.write(`oidc-provider server_error: ${err.stack}\n`));
  // What each authorization request came to: a code at once, a page for the viewer, or an error (a
  // `prompt=none` request the provider cannot answer silently gets login_required and the like).
  const answered = (ctx, outcome) =>
    authorizations.push({ route: ctx.oidc?.route ?? null, prompt: ctx.oidc?.params?.prompt ?? null, outcome });
  provider.on("authorization.success", (ctx) => answered(ctx, "code"));
  provider.on("authorization.error", (ctx, err) => answered(ctx, `error:${err.error}`));
  provider.on("interaction.started", (ctx, prompt) => {
    interactionsStarted += 1;
    answered(ctx, `interaction:${prompt.name}`);
  });
  handler = provider.callback();
}
build();

function route(req, res) {
  const path = req.url.split("?")[0];
  const isJwks = req.method === "GET" && path === "/jwks";
  if (isJwks) jwksAttempts += 1;
  if (req.method === "POST" && path === "/token") tokenRequests += 1;
  if (mode === "503") {
    res.writeHead(503, { "content-type": "text/plain" });
    res.end("provider down for the test");
    return;
  }
  if (mode === "garbage") {
    res.writeHead(200, { "content-type": "application/json" });
    res.end("<html>this is not a JWKS{");
    return;
  }
  if (path === "/cb") {
    // The client's redirect target: the test reads the code from the redirect Location itself.
    res.writeHead(200, { "content-type": "text/plain" });
    res.end("callback");
    return;
  }
  if (isJwks) {
    res.on("finish", () => {
      if (res.statusCode === 200) {
        jwksFetches += 1;
        lastFetchAt = Date.now() / 1000;
      }
    });
    if (jwksDelayMs > 0) {
      setTimeout(() => handler(req, res), jwksDelayMs);
      return;
    }
  }
  handler(req, res);
}

async function down(newMode) {
  mode = newMode;
  if (newMode === "closed" && server.listening) {
    await new Promise((resolve) => {
      server.close(resolve);
      for (const s of sockets) s.destroy();
    });
  }
}

async function up() {
  if (!server.listening) {
    await new Promise((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, HOST, () => {
        server.off("error", reject);
        resolve();
      });
    });
  }
  mode = "up";
}

function readBody(req) {
  return new Promise((resolve) => {
    let data = "";
    req.on("data", (c) => (data += c));
    req.on("end", () => resolve(data ? JSON.parse(data) : {}));
  });
}

const admin = http.createServer(async (req, res) => {
  try {
    const body = req.method === "POST" ? await readBody(req) : {};
    let out = { ok: true };
    switch (`${req.method} ${req.url}`) {
      case "POST /account":
        accounts.set(body.sub, body.groups ?? []);
        break;
      case "POST /rotate": {
        const fresh = newKeys();
        keys = body.keep_old === false ? fresh : [...fresh, ...keys];
        build();
        out = { kids: keys.map((k) => k.kid) };
        break;
      }
      case "POST /down":
        await down(body.mode || "closed");
        break;
      case "POST /up":
        await up();
        break;
      case "POST /delay":
        jwksDelayMs = Math.min(Number(body.ms) || 0, 5000);
        break;
      case "GET /stats":
        out = {
          jwks_fetches: jwksFetches, jwks_attempts: jwksAttempts, last_fetch_at: lastFetchAt,
          kids: keys.map((k) => k.kid), mode, token_requests: tokenRequests,
          interactions_started: interactionsStarted, authorizations,
        };
        break;
      default:
        res.writeHead(404).end();
        return;
    }
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify(out));
  } catch (err) {
    res.writeHead(500, { "content-type": "text/plain" });
    res.end(String(err && err.stack));
  }
});
await new Promise((resolve) => admin.listen(opts.admin_port || 0, HOST, resolve));

process.stdout.write(
  JSON.stringify({
    issuer,
    port,
    admin_port: admin.address().port,
    jwks_uri: `${issuer}/jwks`,
    redirect_uri: redirectUri,
    clients: { RS256: ["rp-rs256", "rp-rs256-secret"], ES256: ["rp-es256", "rp-es256-secret"], public: ["rp-public", null] },
  }) + "\n",
);

const quit = () => process.exit(0);
process.stdin.on("end", quit);
process.stdin.on("close", quit);
process.stdin.resume();
process.on("SIGTERM", quit);
process.on("SIGINT", quit);
