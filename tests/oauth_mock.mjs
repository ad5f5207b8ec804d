// A real OAuth 2 / OpenID Connect provider for the tests: npm's `oauth2-mock-server` (8.x), one
// isolated issuer per test, driven over a small control API. Started and stopped by tests/run.sh.
//
// Why a control server rather than one shared issuer: the mock's hooks ("make the next ID token
// expire") are global to an issuer, and tests run in parallel. Each test asks for its own issuer,
// so what one test does to its provider cannot reach another test's flow.
//
// Usage: node tests/oauth_mock.mjs <oauth2-mock-server package dir> <control port>
//
// Control API (JSON in and out, on 127.0.0.1:<control port>):
//   POST /issuers                         -> {id, issuer}: a new provider on its own free port; its
//        discovery document, /authorize, /token, /userinfo, /jwks and /revoke are the mock's own,
//        plus GitHub's REST endpoints `/user` and `/user/emails` as a stand-in for GitHub's API.
//   POST /issuers/<id>/claims  {sub, email, email_verified, name, ...}
//        -> the identity in every later ID token, userinfo answer and GitHub answer.
//   POST /issuers/<id>/next-id-token {tamper}: the next ID token only, one of
//        bad_signature | alg_none | wrong_iss | wrong_aud | wrong_nonce | expired
//   POST /issuers/<id>/next-token-error {status, body}: the next token endpoint answer only.
//   POST /issuers/<id>/settings {expires_in}: access token lifetime in later token answers.
//   POST /issuers/<id>/rotate-key: a new signing key replaces the old one (old kid gone from JWKS).
//   GET  /issuers/<id>/requests -> {token: {<grant_type>: n}, refresh_tokens: [...], revoke: n,
//        userinfo: n, jwks: n, discovery: n, github_user: n, github_emails: n,
//        last_authorize: {query parameters of the last /authorize}}
//   GET  /health -> ok
import http from "node:http";
import path from "node:path";
import { randomUUID } from "node:crypto";

const [packageDir, controlPort] = process.argv.slice(2);
if (!packageDir || !controlPort) {
  console.error("usage: node tests/oauth_mock.mjs <oauth2-mock-server dir> <control port>");
  process.exit(2);
}
const { OAuth2Issuer, OAuth2Service } = await import(
  path.join(path.resolve(packageDir), "dist", "index.mjs")
);

const issuers = new Map();

function b64url(value) {
  return Buffer.from(typeof value === "string" ? value : JSON.stringify(value)).toString("base64url");
}

async function buildService(entry) {
  const issuer = new OAuth2Issuer();
  await issuer.keys.generate("RS256");
  issuer.url = entry.url;
  const service = new OAuth2Service(issuer);
  const state = entry.state;

  // Every token the mock signs carries the test's identity; the ID token (the one the mock gives
  // an `aud` of the client id) also gets the next tampering asked for.
  service.on("beforeTokenSigning", (token, req) => {
    const isIdToken = token.payload.aud !== undefined && req.body.grant_type !== "client_credentials";
    token.payload.sub = state.claims.sub;
    if (!isIdToken) return;
    Object.assign(token.payload, state.claims);
    const tamper = state.tamper[0];
    if (tamper === "wrong_iss") token.payload.iss = "https://evil.example";
    if (tamper === "wrong_aud") token.payload.aud = "someone-else";
    if (tamper === "wrong_nonce") token.payload.nonce = "not-the-nonce";
    if (tamper === "expired") {
      const now = Math.floor(Date.now() / 1000);
      Object.assign(token.payload, { iat: now - 7200, nbf: now - 7200, exp: now - 3600 });
    }
  });
  service.on("beforeResponse", (response, req) => {
    const grant = req.body.grant_type ?? "unknown";
    state.counts.token[grant] = (state.counts.token[grant] ?? 0) + 1;
    if (grant === "refresh_token") state.counts.refresh_tokens.push(req.body.refresh_token);
    const error = state.tokenErrors.shift();
    if (error) {
      response.statusCode = error.status ?? 400;
      response.body = error.body ?? { error: "invalid_grant" };
      return;
    }
    if (state.expiresIn !== null) response.body.expires_in = state.expiresIn;
    const tamper = state.tamper.shift();
    if (tamper && response.body.id_token) {
      const [header, payload, signature] = response.body.id_token.split(".");
      if (tamper === "bad_signature") {
        // Same header and payload under another signature: only a client that does not check
        // the signature accepts it.
        const flipped = (signature[0] === "A" ? "B" : "A") + signature.slice(1);
        response.body.id_token = `${header}.${payload}.${flipped}`;
      }
      if (tamper === "alg_none") {
        const decoded = JSON.parse(Buffer.from(header, "base64url").toString());
        response.body.id_token = `${b64url({ ...decoded, alg: "none" })}.${payload}.`;
      }
    }
  });
  service.on("beforeUserinfo", (response) => {
    state.counts.userinfo += 1;
    response.body = { ...state.claims };
  });
  service.on("beforeRevoke", () => {
    state.counts.revoke += 1;
  });
  service.on("beforeAuthorizeRedirect", (_redirect, req) => {
    state.counts.last_authorize = { ...req.query };
  });
  entry.issuer = issuer;
  entry.service = service;
}

async function createIssuer() {
  const id = randomUUID();
  const entry = {
    id,
    url: null,
    state: {
      claims: { sub: `user-${id.slice(0, 8)}` },
      tamper: [],
      tokenErrors: [],
      expiresIn: null,
      counts: { token: {}, refresh_tokens: [], revoke: 0, userinfo: 0, jwks: 0, discovery: 0, github_user: 0, github_emails: 0, last_authorize: null },
    },
  };
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, "http://localhost");
    const counts = entry.state.counts;
    if (url.pathname === "/jwks") counts.jwks += 1;
    if (url.pathname === "/.well-known/openid-configuration") counts.discovery += 1;
    // GitHub's REST API stand-in: https://docs.github.com/en/rest/users/users and .../emails.
    if (req.method === "GET" && (url.pathname === "/user" || url.pathname === "/user/emails")) {
      const json = (status, body) => {
        res.writeHead(status, { "content-type": "application/json" });
        res.end(JSON.stringify(body));
      };
      if (!/^(Bearer|token) \S+/i.test(req.headers.authorization ?? "")) {
        return json(401, { message: "Requires authentication" });
      }
      const claims = entry.state.claims;
      if (url.pathname === "/user") {
        counts.github_user += 1;
        const numeric = Number.parseInt(String(claims.sub).replace(/\D/g, "").slice(0, 9) || "1", 10);
        return json(200, { id: numeric, login: claims.login ?? `login-${numeric}`, name: claims.name ?? null, email: claims.public_email ?? null });
      }
      counts.github_emails += 1;
      const emails = claims.email
        ? [{ email: claims.email, primary: true, verified: claims.email_verified === true, visibility: "private" }]
        : [];
      return json(200, emails);
    }
    entry.service.requestHandler(req, res);
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  entry.url = `http://127.0.0.1:${server.address().port}`;
  entry.server = server;
  await buildService(entry);
  issuers.set(id, entry);
  return entry;
}

function readJson(req) {
  return new Promise((resolve, reject) => {
    let body = "";
    req.on("data", (chunk) => (body += chunk));
    req.on("end", () => {
      try {
        resolve(body ? JSON.parse(body) : {});
      } catch (error) {
        reject(error);
      }
    });
  });
}

const TAMPERS = ["bad_signature", "alg_none", "wrong_iss", "wrong_aud", "wrong_nonce", "expired"];

const control = http.createServer(async (req, res) => {
  const reply = (status, body) => {
    res.writeHead(status, { "content-type": "application/json" });
    res.end(JSON.stringify(body));
  };
  try {
    const url = new URL(req.url, "http://localhost");
    if (url.pathname === "/health") return reply(200, "ok");
    if (req.method === "POST" && url.pathname === "/issuers") {
      const entry = await createIssuer();
      return reply(200, { id: entry.id, issuer: entry.url });
    }
    const match = url.pathname.match(/^\/issuers\/([^/]+)\/([a-z-]+)$/);
    const entry = match && issuers.get(match[1]);
    if (!entry) return reply(404, { error: "no such issuer" });
    const action = match[2];
    if (req.method === "GET" && action === "requests") return reply(200, entry.state.counts);
    if (req.method !== "POST") return reply(405, { error: "method" });
    const body = await readJson(req);
    switch (action) {
      case "claims":
        entry.state.claims = { ...body };
        return reply(200, entry.state.claims);
      case "next-id-token":
        if (!TAMPERS.includes(body.tamper)) return reply(400, { error: `tamper must be one of ${TAMPERS}` });
        entry.state.tamper.push(body.tamper);
        return reply(200, {});
      case "next-token-error":
        entry.state.tokenErrors.push(body);
        return reply(200, {});
      case "settings":
        if ("expires_in" in body) entry.state.expiresIn = body.expires_in;
        return reply(200, {});
      case "rotate-key":
        // A new issuer object with a new key behind the same address: the old kid leaves the
        // JWKS, as when a provider rotates. (Codes handed out before the rotation are lost.)
        await buildService(entry);
        return reply(200, { kids: entry.issuer.keys.toJSON().map((key) => key.kid) });
      default:
        return reply(404, { error: "no such action" });
    }
  } catch (error) {
    reply(500, { error: String(error) });
  }
});
control.listen(Number(controlPort), "127.0.0.1", () => {
  console.log(`oauth mock control on http://127.0.0.1:${controlPort}`);
});
for (const signal of ["SIGTERM", "SIGINT"]) {
  process.on(signal, () => process.exit(0));
}
