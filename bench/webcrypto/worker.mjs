// Bench-only JavaScript worker: workerd's native WebCrypto (BoringSSL) signing the same ES384
// token, for comparison with the Rust/wasm signer in the same runtime. GET /?n=N&op=sign|mint|import
const te = new TextEncoder();
const b64url = (bytes) => btoa(String.fromCharCode(...new Uint8Array(bytes))).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
const pkcs8 = (b64) => Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
let cachedKey = null;

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    const n = Math.min(Number(url.searchParams.get("n") || 100), 100000);
    const op = url.searchParams.get("op") || "sign";
    const der = pkcs8(env.PKCS8_B64);
    const importKey = () => crypto.subtle.importKey("pkcs8", der, { name: "ECDSA", namedCurve: "P-384" }, false, ["sign"]);
    const algorithm = { name: "ECDSA", hash: "SHA-384" };
    cachedKey = cachedKey || (await importKey());
    const header = b64url(te.encode('{"alg":"ES384","typ":"JWT"}'));
    let last = "";
    const start = Date.now();
    for (let i = 0; i < n; i++) {
      if (op === "import") {
        await importKey();
      } else if (op === "sign") {
        await crypto.subtle.sign(algorithm, cachedKey, te.encode("header.payload" + i));
      } else {
        const now = Math.floor(Date.now() / 1000);
        const claims = { "aws:channel-arn": env.CHANNEL_ARN, "aws:access-control-allow-origin": "*",
          "aws:viewer-id": "0123456789abcdef0123456789abcdef01234567", "aws:viewer-session-version": 0, exp: now + 300 + i, iat: now };
        const signed = header + "." + b64url(te.encode(JSON.stringify(claims)));
        last = signed + "." + b64url(await crypto.subtle.sign(algorithm, cachedKey, te.encode(signed)));
      }
    }
    const total = Date.now() - start;
    return Response.json({ op, n, total_ms: total, per_op_us: (total * 1000) / n, token: last });
  },
};
