// Drives the passkey demo page (GET /auth/passkeys/demo) in headless Chromium with a virtual
// authenticator (Chrome DevTools Protocol, WebAuthn.addVirtualAuthenticator): creates an account,
// adds a passkey, signs out, signs in with the passkey by email, signs out, signs in with no email
// (a discoverable passkey), and checks the page never broke its Content-Security-Policy.
//
//   node scripts/passkeys-demo.mjs <base URL, e.g. http://localhost:3000> [screenshot.png]
//
// Environment: LATCHKEY_PLAYWRIGHT = the playwright-core package folder (tests/run.sh and
// scripts/passkeys-demo.sh install it under the target dir's tools), LATCHKEY_CHROMIUM = the
// browser (default /usr/bin/chromium, Debian's package). Exits non-zero, saying why, on any
// failure; prints one JSON line of what it saw on success.

import { createRequire } from "node:module";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const [base, screenshot] = process.argv.slice(2);
if (!base) {
  console.error("usage: node scripts/passkeys-demo.mjs <base URL> [screenshot.png]");
  process.exit(2);
}
const playwrightPath = process.env.LATCHKEY_PLAYWRIGHT;
if (!playwrightPath) {
  console.error("LATCHKEY_PLAYWRIGHT is not set (the playwright-core folder; run ./tests/run.sh or scripts/passkeys-demo.sh)");
  process.exit(2);
}
const { chromium } = createRequire(import.meta.url)(playwrightPath);
const executablePath = process.env.LATCHKEY_CHROMIUM || "/usr/bin/chromium";

const profile = mkdtempSync(join(tmpdir(), "latchkey-chromium-"));
// A fresh profile (Playwright passes it as --user-data-dir), removed at the end.
const context = await chromium.launchPersistentContext(profile, {
  executablePath,
  headless: true,
  timeout: 60_000,
  viewport: { width: 900, height: 1100 },
  args: [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
  ],
});
const problems = [];
try {
  const page = context.pages()[0] || await context.newPage();
  page.setDefaultTimeout(20_000);
  page.on("console", (message) => {
    if (message.type() === "error") problems.push(`console: ${message.text()}`);
  });
  page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));

  // A platform authenticator with resident keys and user verification, like a laptop's.
  const cdp = await context.newCDPSession(page);
  await cdp.send("WebAuthn.enable");
  const { authenticatorId } = await cdp.send("WebAuthn.addVirtualAuthenticator", {
    options: {
      protocol: "ctap2",
      transport: "internal",
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: true,
      automaticPresenceSimulation: true,
    },
  });

  const response = await page.goto(`${base}/auth/passkeys/demo`);
  if (response.status() !== 200) throw new Error(`the demo page answered ${response.status()}`);
  const policy = response.headers()["content-security-policy"] || "";
  if (!/script-src 'nonce-/.test(policy)) throw new Error(`no nonce-based CSP: ${policy}`);

  const status = async (expected) => {
    await page.waitForFunction(
      (text) => document.getElementById("status").textContent.includes(text)
        || document.getElementById("status").dataset.state === "error",
      expected,
    );
    const text = await page.textContent("#status");
    if (!text.includes(expected)) throw new Error(`expected "${expected}", the page says: ${text}`);
    return text;
  };

  const email = `demo-${Date.now()}-${Math.floor(Math.random() * 1e6)}@example.com`;
  await page.fill("#email", email);
  await page.fill("#password", "correct horse battery staple 42");
  await page.fill("#name", "Demo Person");
  await page.click("#sign-up");
  await status("Signed up as");

  await page.fill("#passkey-name", "Demo laptop");
  await page.click("#add-passkey");
  await status("Passkey added: Demo laptop");
  const listed = await page.locator("#passkey-list li").count();
  if (listed !== 1) throw new Error(`expected one passkey listed, saw ${listed}`);
  const { credentials } = await cdp.send("WebAuthn.getCredentials", { authenticatorId });
  if (credentials.length !== 1 || !credentials[0].isResidentCredential) {
    throw new Error(`expected one discoverable credential in the authenticator: ${JSON.stringify(credentials)}`);
  }

  await page.click("#sign-out");
  await status("Signed out.");
  await page.fill("#login-email", email);
  await page.click("#login-with-email");
  await status("Signed in with a passkey as");
  const byEmail = await page.textContent("#who");
  if (!byEmail.includes("amr webauthn, aal 2")) throw new Error(`not a passkey session at aal 2: ${byEmail}`);

  await page.click("#sign-out");
  await status("Signed out.");
  await page.fill("#login-email", "");
  await page.click("#login-discoverable");
  const discoverable = await status("(discoverable)");
  const who = await page.textContent("#who");
  if (!who.includes(email)) throw new Error(`signed in as someone else: ${who}`);
  const afterUse = await page.textContent("#passkey-list");
  if (!afterUse.includes("last used")) throw new Error(`the passkey does not show its use: ${afterUse}`);

  const cspViolations = problems.filter((p) => /Content Security Policy/i.test(p));
  if (cspViolations.length) throw new Error(`CSP violations: ${cspViolations.join("; ")}`);
  if (screenshot) await page.screenshot({ path: screenshot, fullPage: true });
  console.log(JSON.stringify({ ok: true, email, status: discoverable, who, passkeys: listed }));
} catch (error) {
  console.error(`passkeys demo failed: ${error.message}`);
  if (problems.length) console.error(problems.join("\n"));
  process.exitCode = 1;
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}
