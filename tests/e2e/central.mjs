// Drives the central-ops page in headless Chromium: refused without the operator token, then
// with it loads every report for a date, draws the traffic chart, looks up one document's
// history, and saves a screenshot. Used by tests/central.rs.
// Usage: node central.mjs URL TOKEN DATE STATE NUMBER SCREENSHOT_PATH
import { createRequire } from "node:module";
import path from "node:path";

const require = createRequire(path.join(process.env.PLAYWRIGHT_NODE_MODULES ?? process.cwd(), "x.js"));
const { chromium } = require("playwright-core");

const [url, token, date, state, number, screenshot] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  await page.goto(url);
  await page.fill("#date", date);
  await page.click("#load");
  await page.waitForFunction(() => document.getElementById("error").textContent.length > 0,
                             null, { timeout: 10000 });
  console.log(JSON.stringify({ without_token: await page.textContent("#error") }));
  await page.fill("#token", token);
  await page.click("#load");
  await page.waitForFunction(() => document.getElementById("present-total").textContent.includes("present"),
                             null, { timeout: 10000 });
  const cells = (id) => page.$$eval(`#${id} td`, (tds) => tds.map((td) => td.textContent));
  console.log(JSON.stringify({ present: await page.textContent("#present-total") }));
  console.log(JSON.stringify({ overstayers: await cells("overstayers") }));
  console.log(JSON.stringify({ traffic: await cells("traffic") }));
  console.log(JSON.stringify({ health: await cells("health") }));
  console.log(JSON.stringify({ anomalies: await cells("anomalies") }));
  // The chart drew bars: some pixel of the canvas is not blank.
  const drawn = await page.$eval("#traffic-chart", (canvas) => {
    const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
    return data.some((value, i) => i % 4 === 3 && value !== 0);
  });
  console.log(JSON.stringify({ chart_drawn: drawn }));
  await page.fill("#doc-state", state);
  await page.fill("#doc-number", number);
  await page.click("#history-load");
  await page.waitForFunction(() => document.querySelectorAll("#history tr").length > 1,
                             null, { timeout: 10000 });
  console.log(JSON.stringify({ history: await cells("history") }));
  if (screenshot) await page.screenshot({ path: screenshot, fullPage: true });
} finally {
  await browser.close();
}
