// Drives the ops dashboard in headless Chromium (Debian's package) with
// playwright-core: sign in, watch a figure change after jobs are enqueued,
// retry a dead job. Run by api/tests/dashboard.rs.
//
// usage: node dashboard.mjs BASE_URL OPS_KEY BACKEND_KEY
import { chromium } from "playwright-core";

const [base, opsKey, backendKey] = process.argv.slice(2);
const executablePath = process.env.FLEET_TEST_CHROMIUM || "/usr/bin/chromium";
const step = (what) => console.log("step: " + what);

const browser = await chromium.launch({
  executablePath,
  headless: true,
  args: ["--no-sandbox", "--disable-dev-shm-usage"],
});
const problems = [];
try {
  const page = await browser.newPage();
  page.on("console", (m) => m.type() === "error" && problems.push("console: " + m.text()));
  page.on("pageerror", (e) => problems.push("page error: " + e.message));
  page.setDefaultTimeout(15000);

  step("load /ops: the sign-in form, no data");
  await page.goto(base + "/ops");
  await page.locator("#login").waitFor({ state: "visible" });
  if (await page.locator("#board").isVisible()) throw new Error("board visible before sign-in");

  step("a backend key is refused");
  await page.fill("#key", backendKey);
  await page.click("#login button[type=submit]");
  await page.locator("#login-error", { hasText: "not an ops key" }).waitFor();
  problems.length = 0; // the refused request logs a console error by design

  step("sign in with the ops key");
  await page.fill("#key", opsKey);
  await page.click("#login button[type=submit]");
  await page.locator("#board").waitFor({ state: "visible" });
  const waiting = page.locator('#queues tr[data-queue="categorize"] td[data-field="waiting"]');
  await waiting.filter({ hasText: /^0$/ }).waitFor();
  const recommended = page.locator('#kinds tr[data-kind="categorize"] td[data-field="recommended_replicas"]');
  await recommended.filter({ hasText: /^0$/ }).waitFor();

  step("enqueue 3 categorize jobs through the API; the page follows without a reload");
  for (let i = 0; i < 3; i++) {
    const resp = await fetch(base + "/v1/jobs", {
      method: "POST",
      headers: { Authorization: "Bearer " + backendKey, "Content-Type": "application/json" },
      body: JSON.stringify({ queue: "categorize", kind: "categorize.e2e", payload: { i } }),
    });
    if (resp.status !== 202) throw new Error("enqueue answered " + resp.status);
  }
  await waiting.filter({ hasText: /^3$/ }).waitFor();
  await recommended.filter({ hasText: /^1$/ }).waitFor();
  const charts = await page.locator('#kinds tr[data-kind="categorize"] svg.depth polyline').count();
  if (charts !== 1) throw new Error("no depth chart for categorize");

  step("retry the dead payout job");
  const dead = page.locator('#queues tr[data-queue="payout"] td[data-field="dead"]');
  await dead.filter({ hasText: /^1$/ }).waitFor();
  await page.click('[data-dead-queue="payout"] button[data-action="retry"]');
  await dead.filter({ hasText: /^0$/ }).waitFor();
  await page.locator('#queues tr[data-queue="payout"] td[data-field="waiting"]').filter({ hasText: /^1$/ }).waitFor();
  await page.locator("#notice", { hasText: "retried 1 job(s)" }).waitFor();
  await page.locator('#dead p.muted', { hasText: "None." }).waitFor();

  step("sign out forgets the key");
  await page.click("#logout");
  await page.locator("#login").waitFor({ state: "visible" });
  const stored = await page.evaluate(() => sessionStorage.getItem("fleet-ops-key"));
  if (stored !== null) throw new Error("key still stored after sign-out");

  if (problems.length) throw new Error(problems.join("\n"));
  console.log("dashboard e2e: ok");
} finally {
  await browser.close();
}
