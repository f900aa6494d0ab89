// Drives the officer console in headless Chromium: waits for a verdict, confirms it, waits for
// "Recorded", and saves a screenshot. Used by tests/hardening.rs (a token with `+` and `/`);
// tests/e2e/console_languages.mjs is the full console test.
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
  await page.waitForSelector("#connection.ok", { timeout: 15000 });
  console.log("connected");
  // The test feeds the scan only after this line, so the verdict arrives on a live stream.
  await page.waitForSelector("#outcome.admit, #outcome.refer, #outcome.refuse", { timeout: 20000 });
  const outcome = await page.getAttribute("#outcome", "class");
  const codes = await page.$$eval("#reasons li", items => items.map(li => li.dataset.code));
  console.log(JSON.stringify({ outcome, codes }));
  await page.fill("#officer-input", "B-1042");
  await page.click("#confirm");
  await page.waitForFunction(() => document.getElementById("recorded").textContent.startsWith("✔"),
                             null, { timeout: 15000 });
  // The page's language is the default (az) unless ?lang= says otherwise; the test reads English.
  const recorded = (await page.textContent("#recorded")).replace(/^✔ /, "");
  console.log(JSON.stringify({ recorded }));
  if (screenshot) await page.screenshot({ path: screenshot, fullPage: true });
} finally {
  await browser.close();
}
