// Drives the officer console and the kiosk screen in headless Chromium (tests/console_e2e.rs):
// sign-in (a wrong PIN, then the officer's; the session's language), one traveller per language
// (verdict worded in it, screenshot, axe-core), a reload that must restore the traveller, a lost
// passport (blocking banner, acknowledgement, referral, second-line decision), an override
// co-signed by a supervisor, the kiosk screen on a refusal, and the daemon stopped under the page.
// The accounts come in OFFICER_ID, OFFICER_SECRET, SUPERVISOR_ID, SUPERVISOR_SECRET.
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
  const env = process.env;
  await page.goto(`${base}/?token=${encodeURIComponent(token)}&lang=en`);
  await page.waitForSelector("body.signed-out #signin-form", { timeout: 15000 });
  for (const language of ["az", "ru", "en"]) catalogues[language] = await page.evaluate(l => CATALOGUES[l], language);
  await axe(page, "sign-in");
  await page.screenshot({ path: path.join(shots, "console-sign-in.png") });
  await page.fill("#signin-id", env.OFFICER_ID);
  await page.fill("#signin-secret", "00000000");
  await page.click("#signin-submit");
  await page.waitForFunction(text => document.getElementById("signin-error").textContent === text,
                             catalogues.en["signin.failed"], { timeout: 15000 });
  console.log(JSON.stringify({ signin_error: await page.textContent("#signin-error") }));
  await page.fill("#signin-id", env.OFFICER_ID);
  await page.fill("#signin-secret", env.OFFICER_SECRET);
  await page.click("#signin-submit");
  await page.waitForSelector("#connection.ok", { timeout: 15000 });
  const sessionLanguage = await page.getAttribute("html", "lang");
  console.log(JSON.stringify({ signed_in: await page.textContent("#officer-id"), language: sessionLanguage }));
  check(sessionLanguage === "ru", "the session's language is the page's: " + sessionLanguage);

  for (const [language, traveller] of [["az", "adult"], ["ru", "minor"], ["en", "adult"]]) {
    // Switched on the page (and kept in the session).
    await page.selectOption("#language", language);
    const t = catalogues[language];
    check(await page.getAttribute("html", "lang") === language, "page language " + language);
    check((await page.textContent("#new-traveller")).includes(t["button.new_traveller"]), "button worded in " + language);
    check((await page.textContent("#connection")).includes(t["connection.live"]), "connection state kept in " + language);
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
      // A reload keeps the traveller in front of the officer, the session and its language.
      const session = await page.evaluate(() => current.session);
      await page.reload();
      await page.waitForSelector("#connection.ok", { timeout: 15000 });
      await page.waitForSelector("#outcome.admit, #outcome.refer, #outcome.refuse", { timeout: 15000 });
      check(await page.evaluate(() => current.session) === session, "reload restored the traveller");
      check(await page.getAttribute("html", "lang") === "en", "the session kept the language");
      console.log("restored " + session);
    }
    // Confirm with the keyboard shortcut.
    await page.evaluate(() => document.activeElement && document.activeElement.blur());
    await page.keyboard.press("1");
    await page.waitForFunction(() => document.getElementById("recorded").textContent.startsWith("✔"), null, { timeout: 15000 });
    console.log(JSON.stringify({ language, recorded: await page.textContent("#recorded") }));
  }

  // A lost passport: the screen is blocked until the officer acknowledges, then referred and
  // decided by second line.
  const en = catalogues.en;
  await ask("scan lost");
  await page.waitForSelector("#required.show", { timeout: 15000 });
  const required = await page.textContent("#required-text");
  check(required.includes(en["action.hold_document"]), "required action: " + required);
  check(await page.isVisible("#required-ack"), "acknowledge button");
  await axe(page, "console-required-action");
  await page.screenshot({ path: path.join(shots, "console-alert.png"), fullPage: true });
  await page.click("#required-ack");
  await page.waitForSelector("#required", { state: "hidden", timeout: 15000 });
  const alertText = await page.textContent("#alerts");
  console.log(JSON.stringify({ required, alerts: alertText }));
  await page.keyboard.press("3");
  await page.waitForSelector("#refer-dialog[open]", { timeout: 5000 });
  await page.fill("#refer-note", "Passport reported lost; sent to second line.");
  await page.click("#refer-submit");
  await page.waitForSelector("#second-line:not([hidden])", { timeout: 15000 });
  await page.click("#second-line-refuse");
  await page.waitForSelector("#second-dialog[open]", { timeout: 5000 });
  await page.selectOption("#second-reason", "other");
  await page.fill("#second-text", "Document held, holder to the police post.");
  await page.click("#second-submit");
  await page.waitForSelector("#second-line", { state: "hidden", timeout: 15000 });
  console.log(JSON.stringify({ second_line: await page.textContent("#recorded") }));

  // A refusal admitted by the officer with the supervisor signing in on the same screen.
  await ask("scan unknown");
  await page.waitForSelector("#outcome.refuse", { timeout: 15000 });
  await page.click("#override");
  await page.waitForSelector("#override-dialog[open]", { timeout: 5000 });
  await page.selectOption("#override-reason", "humanitarian");
  await page.fill("#override-text", "Medical emergency, ambulance waiting.");
  await page.fill("#supervisor-id", env.SUPERVISOR_ID);
  await page.fill("#supervisor-secret", env.SUPERVISOR_SECRET);
  await page.click("#override-submit");
  await page.waitForSelector("#override-dialog", { state: "hidden", timeout: 15000 });
  await page.waitForFunction(() => document.getElementById("recorded").textContent.startsWith("✔"), null, { timeout: 15000 });
  console.log(JSON.stringify({ override: await page.textContent("#recorded") }));

  // A person-alert hit: nothing can be confirmed or refused before the officer compares; "not
  // this person" leaves the rest of the verdict (an admit) to confirm, with the review recorded.
  await ask("scan namesake");
  await page.waitForSelector("#watchlist .watchlist-dismiss", { timeout: 15000 });
  const hit = await page.textContent("#watchlist");
  check(hit.includes("PA-E2E-1") || hit.includes("Мамедов"), "hit shows the alert's names: " + hit);
  check(await page.isDisabled("#confirm") && await page.isDisabled("#refuse"), "confirm and refuse wait for the review");
  await axe(page, "console-watchlist");
  await page.screenshot({ path: path.join(shots, "console-watchlist.png"), fullPage: true });
  await page.click("#watchlist .watchlist-dismiss");
  await page.waitForFunction(() => !document.getElementById("confirm").disabled, null, { timeout: 5000 });
  await page.click("#confirm");
  await page.waitForFunction(() => document.getElementById("recorded").textContent.startsWith("✔"), null, { timeout: 15000 });
  console.log(JSON.stringify({ watchlist: hit, dismissed: await page.textContent("#recorded") }));

  // Idle past the session's time (the clock of the last key or click set back): the screen
  // locks; the officer signs in again.
  await page.evaluate(() => { lastActivity = 0; });
  await page.waitForSelector("body.signed-out #signin-form", { timeout: 10000 });
  check(await page.textContent("#signin-error") === en["signin.signed_out"], "idle lock says why");
  check(!(await page.isVisible("#outcome")), "nothing of the traveller shows while locked");
  console.log("idle lock");
  await page.fill("#signin-id", env.OFFICER_ID);
  await page.fill("#signin-secret", env.OFFICER_SECRET);
  await page.click("#signin-submit");
  await page.waitForSelector("#connection.ok", { timeout: 15000 });

  const kiosk = await context.newPage();
  await kiosk.goto(`${base}/kiosk?token=${encodeURIComponent(token)}`);
  await kiosk.waitForSelector("#state[data-screen=idle]", { timeout: 15000 });
  await ask("scan unknown2");
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
  const grey = await page.$eval("#console main", e => getComputedStyle(e).filter);
  check(grey.includes("grayscale"), "verdict greyed: " + grey);
  console.log(JSON.stringify({ offline: await page.textContent("#offline") }));
  await page.screenshot({ path: path.join(shots, "console-offline.png"), fullPage: true });
} finally {
  await browser.close();
  input.close();
}
