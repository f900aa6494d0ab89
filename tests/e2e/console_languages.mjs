// Drives the officer console and the kiosk screen in headless Chromium (tests/console_e2e.rs):
// one traveller per language (verdict worded in it, screenshot, axe-core), a reload that must
// restore the traveller, the kiosk screen on a referral, and the daemon stopped under the page.
// Asks the Rust side for scans and the stop by printing `scan NAME` and `stop`, and waits for
// `go` on stdin after each.
// Usage: node console.mjs BASE_URL TOKEN SCREENSHOT_DIR
import { createRequire } from "node:module";
import path from "node:path";
import readline from "node:readline";

const require = createRequire(path.join(process.env.PLAYWRIGHT_NODE_MODULES ?? process.cwd(), "x.js"));
const { chromium } = require("playwright-core");
const axePath = require.resolve("axe-core/axe.min.js");

const [base, token, shots] = process.argv.slice(2);
const input = readline.createInterface({ input: process.stdin });
const lines = input[Symbol.asyncIterator]();
async function ask(request) {
  console.log(request);
  const { value } = await lines.next();
  if (value !== "go") throw new Error("the test answered " + JSON.stringify(value) + " to " + request);
}
function check(condition, what) { if (!condition) throw new Error("failed: " + what); }

// Serious and critical axe-core violations of the page as it is now; every one is printed.
async function axe(page, name) {
  await page.addScriptTag({ path: axePath });
  const result = await page.evaluate(async () => {
    const r = await window.axe.run(document, { resultTypes: ["violations"] });
    return { version: window.axe.version, violations: r.violations.map(v => ({ id: v.id, impact: v.impact, nodes: v.nodes.length })) };
  });
  console.log("axe " + JSON.stringify({ page: name, ...result }));
  const bad = result.violations.filter(v => v.impact === "serious" || v.impact === "critical");
  check(bad.length === 0, name + ": serious or critical axe-core violations " + JSON.stringify(bad));
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, locale: "en-US", timezoneId: "America/New_York" });
  const page = await context.newPage();
  const catalogues = {};
  for (const [language, traveller] of [["az", "adult"], ["ru", "minor"], ["en", "adult"]]) {
    await page.goto(`${base}/?token=${encodeURIComponent(token)}&lang=${language}`);
    await page.waitForSelector("#connection.ok", { timeout: 15000 });
    catalogues[language] = await page.evaluate(l => CATALOGUES[l], language);
    const t = catalogues[language];
    check(await page.getAttribute("html", "lang") === language, "page language " + language);
    check((await page.textContent("#new-traveller")).includes(t["button.new_traveller"]), "button worded in " + language);
    await ask("scan " + traveller);
    await page.waitForSelector("#outcome.admit, #outcome.refer, #outcome.refuse", { timeout: 15000 });
    const outcome = await page.getAttribute("#outcome", "class");
    const shown = await page.textContent("#outcome");
    check(shown.includes(t["outcome." + outcome]), `outcome worded in ${language}: ${shown}`);
    const codes = await page.$$eval("#reasons li", items => items.map(li => li.dataset.code));
    const reasons = await page.$$eval("#reasons li", items => items.map(li => li.textContent));
    const warnings = await page.$$eval("#warnings li", items => items.map(li => li.textContent));
    const documentText = await page.textContent("#document");
    console.log(JSON.stringify({ language, outcome, codes, reasons, warnings, document: documentText,
      live: await page.getAttribute("#outcome", "aria-live") }));
    await axe(page, "console-" + language);
    await page.screenshot({ path: path.join(shots, `console-${language}.png`), fullPage: true });
    if (language === "en") {
      // A reload keeps the traveller in front of the officer.
      const session = await page.evaluate(() => current.session);
      await page.reload();
      await page.waitForSelector("#connection.ok", { timeout: 15000 });
      await page.waitForSelector("#outcome.admit, #outcome.refer, #outcome.refuse", { timeout: 15000 });
      check(await page.evaluate(() => current.session) === session, "reload restored the traveller");
      console.log("restored " + session);
    }
    // Confirm with the keyboard shortcut (focus out of the officer field, where digits type).
    if (await page.isVisible("#officer-input")) await page.fill("#officer-input", "B-1042");
    await page.evaluate(() => document.activeElement && document.activeElement.blur());
    await page.keyboard.press("1");
    await page.waitForFunction(() => document.getElementById("recorded").textContent.startsWith("✔"), null, { timeout: 15000 });
    console.log(JSON.stringify({ language, recorded: await page.textContent("#recorded") }));
  }

  const kiosk = await context.newPage();
  await kiosk.goto(`${base}/kiosk?token=${encodeURIComponent(token)}`);
  await kiosk.waitForSelector("#state[data-screen=idle]", { timeout: 15000 });
  await ask("scan unknown");
  await kiosk.waitForSelector("#state[data-screen=see]", { timeout: 15000 });
  const kioskText = await kiosk.textContent("#lines");
  for (const language of ["az", "ru", "en"]) check(kioskText.includes(catalogues[language]["kiosk.see_officer"]), "kiosk in " + language);
  console.log(JSON.stringify({ kiosk: kioskText }));
  await axe(kiosk, "kiosk");
  await kiosk.screenshot({ path: path.join(shots, "kiosk.png"), fullPage: true });
  await kiosk.close();

  // The console holds the referred traveller; then the daemon goes away under it.
  await page.waitForSelector("#outcome.refer, #outcome.refuse", { timeout: 15000 });
  await ask("stop");
  await page.waitForSelector("body.offline", { timeout: 15000 });
  check(await page.isVisible("#offline"), "not-connected banner shown");
  for (const id of ["confirm", "refuse", "refer", "new-traveller"]) check(await page.isDisabled("#" + id), id + " disabled");
  const grey = await page.$eval("main", e => getComputedStyle(e).filter);
  check(grey.includes("grayscale"), "verdict greyed: " + grey);
  console.log(JSON.stringify({ offline: await page.textContent("#offline") }));
  await page.screenshot({ path: path.join(shots, "console-offline.png"), fullPage: true });
} finally {
  await browser.close();
  input.close();
}
