// Drives the hosted IMAP form in headless Chromium (Debian's `chromium`, through npm's
// playwright-core; never a downloaded browser): opens the form, fills it in as a person would,
// submits it, and waits for the confirmation step. Prints what the page showed as JSON and saves
// a screenshot of the filled form and of the confirmation step.
//
//   node tests/browser/imap_form.mjs <playwright-core dir> <chromium> <form url> <fields.json> <screenshot prefix>
//
// fields.json: {"email_address", "imap_host", "imap_port", "imap_secure" (bool), "imap_username",
// "imap_password", "smtp_host", "smtp_port", "smtp_secure" (bool), "smtp_username", "smtp_password"}.
import { readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';

const [playwrightDir, chromiumPath, formUrl, fieldsPath, screenshotPrefix] = process.argv.slice(2);
const require = createRequire(import.meta.url);
const { chromium } = require(playwrightDir);
const fields = JSON.parse(readFileSync(fieldsPath, 'utf8'));

const profile = mkdtempSync(join(tmpdir(), 'latchkey-chromium-'));
const browser = await chromium.launch({
  executablePath: chromiumPath,
  headless: true,
  args: [
    '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
  ],
  // A fresh, throw-away profile directory (playwright refuses --user-data-dir in launch()).
  env: { ...process.env, TMPDIR: profile },
});
let exitCode = 0;
try {
  // The form must work without script: the page runs with JavaScript off.
  const context = await browser.newContext({ javaScriptEnabled: false, viewport: { width: 800, height: 1100 } });
  const page = await context.newPage();
  const response = await page.goto(formUrl);
  if (!response || response.status() !== 200) throw new Error(`GET form: ${response && response.status()}`);
  for (const [name, value] of Object.entries(fields)) {
    if (typeof value === 'boolean') {
      if (value) await page.check(`#${name}`); else await page.uncheck(`#${name}`);
    } else {
      await page.fill(`#${name}`, String(value));
    }
  }
  await page.screenshot({ path: `${screenshotPrefix}-form.png`, fullPage: true });
  await page.click('#submit');
  await page.waitForSelector('#confirmation-step, .error, h1', { timeout: 20000 });
  await page.waitForLoadState('load');
  const step = await page.locator('#confirmation-step').count();
  const result = {
    title: await page.title(),
    confirmation_step: step > 0,
    heading: step > 0 ? await page.locator('#confirmation-step').innerText() : null,
    email: step > 0 ? await page.locator('#email').innerText() : null,
    errors: await page.locator('.error').allInnerTexts(),
  };
  await page.screenshot({ path: `${screenshotPrefix}-sent.png`, fullPage: true });
  console.log(JSON.stringify(result));
} catch (error) {
  console.error(error);
  exitCode = 1;
} finally {
  await browser.close();
  rmSync(profile, { recursive: true, force: true });
}
process.exit(exitCode);
