// Opens the officer console in headless Chromium with the token as pasted in the URL and has
// the page's own request code read the lane's status with it (the sign-in screen is what an
// unsigned page shows; the token alone records nothing). Used by tests/hardening.rs (a token
// with `+` and `/`); tests/e2e/console_languages.mjs is the full console test.
// Usage: node console.mjs URL SCREENSHOT_PATH
import { createRequire } from "node:module";
import path from "node:path";

const require = createRequire(path.join(process.env.PLAYWRIGHT_NODE_MODULES ?? process.cwd(), "x.js"));
const { chromium } = require("playwright-core");

const [url, screenshot] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
try {
  const page = await browser.newPage({ viewport: { width: 1200, height: 760 } });
  await page.goto(url);
  await page.waitForSelector("body.signed-out #signin-form", { timeout: 15000 });
  const status = await page.evaluate(() => api("GET", "/api/v1/status"));
  console.log(JSON.stringify({ lane: status.lane, devices: status.devices.length }));
  if (screenshot) await page.screenshot({ path: screenshot, fullPage: true });
} finally {
  await browser.close();
}
