// Bench-only JavaScript worker: workerd's native WebCrypto (BoringSSL) signing the same ES384
// token, for comparison with the Rust/wasm signer in the same runtime. GET /?n=N&op=sign|mint|import
const te = new TextEncoder();
const b64url = (bytes) => btoa(String.fromCharCode(...new Uint8Array(bytes))).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
const pkcs8 = (b64) => Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
let cachedKey = null;
// RFC 7515 A.2 (RS256) and A.3 (ES256): identity tokens' signatures, verified by BoringSSL.
const VECTORS = {
  "verify-rs256": { file: "RS256", params: { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" }, verify: { name: "RSASSA-PKCS1-v1_5" } },
  "verify-es256": { file: "ES256", params: { name: "ECDSA", namedCurve: "P-256" }, verify: { name: "ECDSA", hash: "SHA-256" } },
};
const b64urlDecode = (text) => Uint8Array.from(atob(text.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((text.length + 3) % 4)), (c) => c.charCodeAt(0));

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
    const vector = VECTORS[op];
    let verifyKey = null, signed = null, signature = null;
    if (vector) {
      const { jwk, jws } = JSON.parse(env["JWS_" + vector.file]);
      verifyKey = await crypto.subtle.importKey("jwk", jwk, vector.params, false, ["verify"]);
      const cut = jws.lastIndexOf(".");
      signed = te.encode(jws.slice(0, cut));
      signature = b64urlDecode(jws.slice(cut + 1));
      if (!(await crypto.subtle.verify(vector.verify, verifyKey, signature, signed))) {
        return Response.json({ error: op + ": the vector does not verify" });
      }
    }
    const start = Date.now();
    for (let i = 0; i < n; i++) {
      if (vector) {
        await crypto.subtle.verify(vector.verify, verifyKey, signature, signed);
      } else if (op === "import") {
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
