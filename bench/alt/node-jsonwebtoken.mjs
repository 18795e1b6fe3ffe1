// The AWS sample Lambda's signer as a plain HTTP server: jsonwebtoken with the PEM passed on
// every call (so the key is parsed per token). GET /token -> {"token": ...}. Bench only.
import http from "node:http";
import fs from "node:fs";
import jwt from "jsonwebtoken";

const pem = fs.readFileSync(process.env.PRIVATE_KEY_FILE, "utf8");
const arn = process.env.CHANNEL_ARN;
const server = http.createServer((req, res) => {
  const now = Math.floor(Date.now() / 1000);
  const payload = { "aws:channel-arn": arn, "aws:access-control-allow-origin": "*",
    "aws:viewer-id": "0123456789abcdef0123456789abcdef01234567", "aws:viewer-session-version": 0, exp: now + 300, iat: now };
  const token = jwt.sign(payload, pem, { algorithm: "ES384", noTimestamp: true });
  res.writeHead(200, { "content-type": "application/json" });
  res.end(JSON.stringify({ token }));
});
server.listen(Number(process.env.PORT), "127.0.0.1", () => console.log("ready"));
