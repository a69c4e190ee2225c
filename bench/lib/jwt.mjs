// HS256 JWTs for the load generator (node:crypto; the worker verifies them with jose).
import { createHmac } from "node:crypto";

const b64url = (x) => Buffer.from(typeof x === "string" ? x : JSON.stringify(x)).toString("base64url");

export function signHs256(claims, secret) {
  const head = b64url({ alg: "HS256", typ: "JWT" });
  const body = b64url(claims);
  const sig = createHmac("sha256", secret).update(`${head}.${body}`).digest("base64url");
  return `${head}.${body}.${sig}`;
}

export function benchToken(userId, secret, ttlSec = 3600) {
  const now = Math.floor(Date.now() / 1000);
  return signHs256({ sub: userId, iat: now, exp: now + ttlSec }, secret);
}
