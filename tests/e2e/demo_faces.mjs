// Walks the demo's arrivals on the officer console in headless Chromium (tests/console_e2e.rs)
// and reports, per traveller, the verdict and the chip's face as the page shows it: whether the
// picture box is visible, the picture's natural size and the type of the image the page got.
// One JSON line per traveller; takes screenshots of the first JPEG and JPEG 2000 face.
// Usage: node demo_faces.mjs CONSOLE_URL OFFICER_ID OFFICER_SECRET SCREENSHOT_DIR TRAVELLERS
import { createRequire } from "node:module";
import path from "node:path";

const require = createRequire(path.join(process.env.PLAYWRIGHT_NODE_MODULES ?? process.cwd(), "x.js"));
const { chromium } = require("playwright-core");

const [url, id, secret, shots, count] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"],
});
try {
  const page = await (await browser.newContext({ viewport: { width: 1280, height: 1000 } })).newPage();
  await page.goto(url + "&lang=en");
  await page.waitForSelector("#signin-form", { timeout: 15000 });
  await page.fill("#signin-id", id);
  await page.fill("#signin-secret", secret);
  await page.click("#signin-submit");
  await page.waitForSelector("#connection.ok", { timeout: 15000 });
  const shot = {};
  let last = null;
  for (let i = 0; i < Number(count); i++) {
    await page.waitForFunction(prev => typeof current !== "undefined" && current && current.session !== prev,
      last, { timeout: 20000 });
    last = await page.evaluate(() => current.session);
    const face = await page.evaluate(() => current.chip && current.chip.face);
    let shown = null;
    if (face) {
      // The picture (or the note that it cannot be shown) follows the verdict by one fetch.
      await page.waitForFunction(() => {
        const img = document.getElementById("chip-face");
        return img.hidden || (img.complete && img.naturalWidth > 0);
      }, null, { timeout: 10000 });
      shown = await page.evaluate(async () => {
        const img = document.getElementById("chip-face");
        if (img.hidden) return { note: document.getElementById("chip-face-note").textContent };
        const blob = await (await fetch(img.src)).blob();
        return { width: img.naturalWidth, height: img.naturalHeight, type: blob.type,
                 note: document.getElementById("chip-face-note").textContent };
      });
      if (shown.type && !shot[face.media_type]) {
        shot[face.media_type] = true;
        const name = face.media_type === "image/jpeg" ? "face-jpeg" : "face-jpeg2000";
        await page.screenshot({ path: `${shots}/${name}.png`, fullPage: true });
      }
    }
    const outcome = await page.evaluate(() => current.verdict && current.verdict.outcome);
    const boxVisible = await page.isVisible("#chip-face-box");
    console.log(JSON.stringify({ i, outcome, face, shown, box_visible: boxVisible }));
    if (await page.isVisible("#required-ack")) await page.click("#required-ack");
    await page.click("#new-traveller");
  }
} finally {
  await browser.close();
}
