// Opens the local server's rendered API reference (`/docs`) in headless Chromium (Debian's
// `chromium`, through npm's playwright-core; never a downloaded browser), with scripts on, waits
// for the operations to render, and prints what it saw as JSON: the operations' paths, every URL
// the page requested, and the console errors (a Content-Security-Policy violation is one).
// Saves a screenshot with the sign-in operation opened.
//
//   node tests/browser/api_reference.mjs <playwright-core dir> <chromium> <docs url> <screenshot.png>
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';

const [playwrightDir, chromiumPath, docsUrl, screenshot] = process.argv.slice(2);
const require = createRequire(import.meta.url);
const { chromium } = require(playwrightDir);

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
  const context = await browser.newContext({ viewport: { width: 1100, height: 900 } });
  const page = await context.newPage();
  const requested = [];
  const consoleErrors = [];
  page.on('request', (request) => requested.push(request.url()));
  page.on('console', (message) => { if (message.type() === 'error') consoleErrors.push(message.text()); });
  page.on('pageerror', (error) => consoleErrors.push(String(error)));
  const response = await page.goto(docsUrl);
  if (!response || response.status() !== 200) throw new Error(`GET ${docsUrl}: ${response && response.status()}`);
  await page.waitForSelector('.opblock-summary-path', { timeout: 30000 });
  await page.waitForLoadState('networkidle');
  const result = {
    title: await page.title(),
    heading: await page.locator('.info .title').first().innerText(),
    paths: await page.locator('.opblock-summary-path').allInnerTexts(),
    requested,
    console_errors: consoleErrors,
  };
  // The picture shows an operation opened: sign-in, its request body and answers.
  const signIn = page.locator('.opblock-summary-path', { hasText: /^\/auth\/sign-in\u200b?$/ }).first();
  await signIn.click();
  await page.waitForSelector('.opblock.is-open .opblock-body', { timeout: 10000 });
  await signIn.evaluate((element) => element.scrollIntoView({ block: 'start' }));
  result.opened = await page.locator('.opblock.is-open .opblock-summary-path').first().innerText();
  await page.screenshot({ path: screenshot });
  console.log(JSON.stringify(result));
} catch (error) {
  console.error(error);
  exitCode = 1;
} finally {
  await browser.close();
  rmSync(profile, { recursive: true, force: true });
}
process.exit(exitCode);
