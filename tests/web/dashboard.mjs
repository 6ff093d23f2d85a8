// Browser test of the dashboard (run by tests/integration/95-dashboard.t against a real agent):
// playwright-core drives Debian's chromium headless.  Prints TAP lines "ok N - ..." (the .t
// prints the plan); screenshots of every page go to $OUT.
//   API=http://127.0.0.1:PORT KEY=e2b_... OUT=dir [TEMPLATE=minimal] [CHROMIUM=/usr/bin/chromium]
import { chromium } from "playwright-core";
import { mkdirSync } from "node:fs";

const API = process.env.API, KEY = process.env.KEY, OUT = process.env.OUT;
const TEMPLATE = process.env.TEMPLATE || "minimal";
if (!API || !KEY || !OUT) {
  console.error("dashboard.mjs: set API, KEY and OUT");
  process.exit(2);
}
mkdirSync(OUT, { recursive: true });

let n = 0, failed = 0;
const t0 = Date.now();
const secs = () => ((Date.now() - t0) / 1000).toFixed(1);
async function step(name, f) {
  n++;
  try {
    const extra = await f();
    console.log(`ok ${n} - ${name}${extra ? ` (${extra})` : ""} [${secs()}s]`);
    return true;
  } catch (e) {
    failed++;
    console.log(`not ok ${n} - ${name} [${secs()}s]`);
    console.log(String(e && e.stack ? e.stack : e).split("\n").slice(0, 6).map((l) => "# " + l).join("\n"));
    return false;
  }
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
});
const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, colorScheme: "light" });
const page = await context.newPage();
const consoleErrors = [];
page.on("console", (m) => m.type() === "error" && consoleErrors.push(m.text()));
page.on("pageerror", (e) => consoleErrors.push(String(e)));
page.on("dialog", (d) => d.accept()); // the kill/delete confirmations
const shot = (name) => page.screenshot({ path: `${OUT}/${name}.png` });

/** The terminal's text (xterm's buffer), one string per line. */
const termLines = () =>
  page.evaluate(() => {
    const t = window.wrennTerm;
    if (!t) return [];
    const b = t.buffer.active, out = [];
    for (let i = 0; i < b.length; i++) out.push(b.getLine(i)?.translateToString(true) ?? "");
    return out;
  });
async function waitLine(re, ms = 20000) {
  const end = Date.now() + ms;
  for (;;) {
    const lines = await termLines();
    const hit = lines.find((l) => re.test(l));
    if (hit !== undefined) return hit;
    if (Date.now() > end) throw new Error(`no terminal line matches ${re}; screen:\n${lines.filter(Boolean).slice(-8).join("\n")}`);
    await page.waitForTimeout(200);
  }
}

let sbId = null;
try {
  await step("a wrong key shows an error at the sign-in form", async () => {
    await page.goto(API + "/");
    await page.fill("#apikey", "e2b_" + "0".repeat(40));
    await page.click("button[type=submit]");
    const err = page.locator("#signin-error");
    await err.waitFor({ timeout: 10000 });
    const text = await err.textContent();
    if (!/invalid API key/i.test(text)) throw new Error("error text: " + text);
    await shot("signin-error");
    // the key is not kept, and never put in the URL
    if (await page.evaluate(() => sessionStorage.getItem("wrenn.apiKey"))) throw new Error("wrong key stored");
    return text;
  });

  await step("sign in with the key: the sandboxes page", async () => {
    await page.fill("#apikey", KEY);
    await page.click("button[type=submit]");
    await page.locator("h1", { hasText: "Sandboxes" }).waitFor({ timeout: 10000 });
    if (page.url().includes(KEY)) throw new Error("key in the URL");
    if ((await page.evaluate(() => sessionStorage.getItem("wrenn.apiKey"))) !== KEY) throw new Error("key not in sessionStorage");
  });

  await step("create a sandbox from the dialog", async () => {
    await page.click("text=New sandbox");
    await page.selectOption("dialog select[name=template]", TEMPLATE);
    await page.fill("dialog input[name=timeout]", "600");
    await page.fill("dialog textarea[name=metadata]", "suite=95-dashboard");
    await shot("create-dialog");
    await page.click("dialog button[type=submit]");
    await page.waitForURL(/#\/sandboxes\/[^/]+/, { timeout: 120000 });
    sbId = decodeURIComponent(page.url().split("#/sandboxes/")[1].split("/")[0]);
    await page.locator(".badge.state-running").first().waitFor({ timeout: 30000 });
    return sbId;
  });

  await step("terminal: `echo hi` reads hi back", async () => {
    await page.locator('.term-status[data-status="connected"]').waitFor({ timeout: 30000 });
    await page.click(".terminal");
    await waitLine(/[#$] ?$/, 20000); // a prompt
    await page.keyboard.type("echo h''i\n");
    await waitLine(/^hi$/);
    await shot("terminal");
  });

  await step("terminal: Ctrl-C interrupts a running command", async () => {
    await page.keyboard.type("sleep 300; echo not-interrupted\n");
    await page.waitForTimeout(1000);
    await page.keyboard.press("Control+C");
    await page.keyboard.type("echo after-$((6*7))\n");
    await waitLine(/^after-42$/, 15000);
    if ((await termLines()).some((l) => l === "not-interrupted")) throw new Error("sleep was not interrupted");
  });

  await step("terminal: paste goes to the shell", async () => {
    await page.evaluate(() => window.wrennTerm.paste("echo pasted-$((2+3))\n"));
    await waitLine(/^pasted-5$/, 15000);
  });

  await step("terminal: a resize reaches the PTY (stty size)", async () => {
    const before = await page.evaluate(() => [window.wrennTerm.cols, window.wrennTerm.rows]);
    await page.setViewportSize({ width: 900, height: 700 });
    await page.waitForFunction((b) => window.wrennTerm.cols !== b[0], before, { timeout: 10000 });
    await page.waitForTimeout(500);
    const [cols, rows] = await page.evaluate(() => [window.wrennTerm.cols, window.wrennTerm.rows]);
    await page.keyboard.type("stty size\n");
    await waitLine(new RegExp(`^${rows} ${cols}$`), 15000);
    await page.setViewportSize({ width: 1280, height: 800 });
    return `${before.join("x")} -> ${cols}x${rows}`;
  });

  await step("terminal: reconnects after the connection drops", async () => {
    // a network blip: every TCP connection to the agent's port is reset (ss -K, as root)
    const port = new URL(API).port;
    const { execFileSync } = await import("node:child_process");
    execFileSync("ss", ["-K", "dst", "127.0.0.1", "dport", "=", port], { stdio: "ignore" });
    await page.locator('.term-status:not([data-status="connected"])').waitFor({ timeout: 15000 });
    await page.locator('.term-status[data-status="connected"]').waitFor({ timeout: 30000 });
    await page.click(".terminal");
    await waitLine(/reconnecting/, 5000);
    await page.waitForTimeout(500);
    await page.keyboard.type("echo back-$((1+1))\n");
    await waitLine(/^back-2$/, 20000);
  });

  await step("files: upload a file and see it listed", async () => {
    await page.click('[role=tab]:has-text("Files")');
    await page.locator("table[aria-label=Files]").waitFor();
    await page.setInputFiles("input[type=file][aria-label='Upload files']", {
      name: "dash-upload.txt",
      mimeType: "text/plain",
      buffer: Buffer.from("uploaded by the browser test\n"),
    });
    await page.locator('tr[data-name="dash-upload.txt"]').waitFor({ timeout: 20000 });
    // the size as envd lists it (refreshed with Go: a listing racing the write may say 0 B)
    let size = "";
    for (let i = 0; i < 10; i++) {
      size = await page.locator('tr[data-name="dash-upload.txt"] td.num').textContent();
      if (/29 B/.test(size)) break;
      await page.waitForTimeout(500);
      await page.click('.pathbar button[type=submit]');
    }
    if (!/29 B/.test(size)) throw new Error("size shown: " + size);
    await shot("files");
  });

  await step("files: download returns the content", async () => {
    const [dl] = await Promise.all([
      page.waitForEvent("download", { timeout: 15000 }),
      page.click('tr[data-name="dash-upload.txt"] button:has-text("Download")'),
    ]);
    const p = await dl.path();
    const { readFileSync } = await import("node:fs");
    const got = readFileSync(p, "utf8");
    if (got !== "uploaded by the browser test\n") throw new Error("downloaded: " + JSON.stringify(got));
  });

  await step("files: delete removes it", async () => {
    await page.click('tr[data-name="dash-upload.txt"] button:has-text("Delete")');
    await page.locator('tr[data-name="dash-upload.txt"]').waitFor({ state: "detached", timeout: 15000 });
  });

  await step("metrics: the charts render with points", async () => {
    await page.click('[role=tab]:has-text("Metrics")');
    await page.waitForFunction(() => {
      const f = document.querySelector("#chart-cpu");
      return f && +f.getAttribute("data-points") >= 2 && f.querySelectorAll("circle.pt").length >= 2;
    }, null, { timeout: 30000 });
    const pts = await page.locator("#chart-memory circle.pt").count();
    if (pts < 2) throw new Error(`memory chart has ${pts} points`);
    await shot("metrics");
    return `${pts} points`;
  });

  await step("console log shows the guest's boot log", async () => {
    await page.click('[role=tab]:has-text("Console log")');
    await page.waitForFunction(() => (document.querySelector("pre.log")?.textContent ?? "").length > 100, null, { timeout: 15000 });
    await shot("console-log");
  });

  const row = () => page.locator(`tr[data-id="${sbId}"]`);
  await step("pause and resume from the list", async () => {
    await page.click('nav a:has-text("Sandboxes")');
    await row().waitFor({ timeout: 10000 });
    await page.waitForTimeout(5500); // a CPU/memory sample for the list
    await shot("sandboxes");
    await row().locator('button:has-text("Pause")').click();
    await page.locator(`tr[data-id="${sbId}"][data-state="paused"]`).waitFor({ timeout: 90000 });
    await row().locator('button:has-text("Resume")').click();
    await page.locator(`tr[data-id="${sbId}"][data-state="running"]`).waitFor({ timeout: 90000 });
  });

  await step("an API error is shown where the user acted", async () => {
    await row().locator('button:has-text("Timeout")').click();
    await row().locator("input[type=number]").fill("-5");
    await row().locator('button:has-text("Set")').click();
    const e = row().locator(".error.inline");
    await e.waitFor({ timeout: 10000 });
    const t = await e.textContent();
    if (!/400/.test(t)) throw new Error("error shown: " + t);
    await row().locator('button:has-text("Cancel")').click();
    return t;
  });

  await step("snapshot from the sandbox page, listed, then deleted", async () => {
    await page.click(`a[href="#/sandboxes/${sbId}"]`);
    await page.fill("input[aria-label='Snapshot name']", "dash-snap");
    await page.click('button:has-text("Take snapshot")');
    await page.locator('button:has-text("Take snapshot"):not([disabled])').waitFor({ timeout: 90000 });
    const err = await page.locator(".inline-form .error").count();
    if (err) throw new Error(await page.locator(".inline-form .error").textContent());
    await page.click('nav a:has-text("Snapshots")');
    const r = page.locator("table[aria-label=Snapshots] tr", { hasText: "dash-snap" });
    await r.waitFor({ timeout: 10000 });
    if (!(await r.textContent()).includes(sbId)) throw new Error("snapshot row without its sandbox");
    await shot("snapshots");
    await r.locator('button:has-text("Delete")').click();
    await r.waitFor({ state: "detached", timeout: 30000 });
  });

  await step("build a template from a Dockerfile: live log, ready, listed, deleted", async () => {
    await page.click('nav a:has-text("Templates")');
    await page.fill("input[name=name]", "dash-tpl");
    await page.fill("textarea[name=dockerfile]", "FROM minimal\nRUN echo built-by-the-dashboard > /etc/dash\n");
    await page.click('button[type=submit]:has-text("Build")');
    await page.locator(".build p[role=status]").waitFor({ timeout: 20000 });
    await page.locator(".build-ready, .build-error").waitFor({ timeout: 150000 });
    const log = await page.locator("pre[aria-label='Build log']").textContent();
    if (await page.locator(".build-error").count()) throw new Error("build failed: " + log.slice(-600));
    if (!/RUN|step/i.test(log)) throw new Error("build log: " + log.slice(0, 300));
    const r = page.locator('table[aria-label=Templates] tr[data-name="dash-tpl"]');
    await r.waitFor({ timeout: 15000 });
    await shot("template-build");
    await r.locator('button:has-text("Delete")').click();
    await r.waitFor({ state: "detached", timeout: 30000 });
  });

  await step("other pages render: templates, snapshots, keys and teams", async () => {
    await page.click('nav a:has-text("Templates")');
    await page.locator(`table[aria-label='Base images'] tr[data-name="${TEMPLATE}"]`).waitFor({ timeout: 10000 });
    await shot("templates");
    await page.click('nav a:has-text("Snapshots")');
    await page.locator("table[aria-label=Snapshots]").waitFor();
    await shot("snapshots");
    await page.click('nav a:has-text("Keys")');
    await page.locator("table[aria-label='API keys'] tbody tr").first().waitFor({ timeout: 10000 });
    await shot("admin");
  });

  await step("phone width and dark theme are readable", async () => {
    await page.click('nav a:has-text("Sandboxes")');
    await page.setViewportSize({ width: 390, height: 844 });
    await row().waitFor();
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    await shot("sandboxes-phone");
    await page.setViewportSize({ width: 1280, height: 800 });
    await page.emulateMedia({ colorScheme: "dark" });
    const bg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    await shot("sandboxes-dark");
    await page.emulateMedia({ colorScheme: "light" });
    if (overflow > 0) throw new Error(`page is ${overflow}px wider than a phone`);
    if (bg !== "rgb(13, 17, 23)") throw new Error("dark background: " + bg);
  });

  await step("a team key sees only its team's sandboxes; keys are the operator's", async () => {
    if (!process.env.TEAMKEY) throw new Error("TEAMKEY not set");
    await page.click("button.signout");
    await page.fill("#apikey", process.env.TEAMKEY);
    await page.click("button[type=submit]");
    await page.locator("h1", { hasText: "Sandboxes" }).waitFor({ timeout: 10000 });
    await page.locator("table[aria-label=Sandboxes]").waitFor();
    await page.waitForFunction(() => document.querySelector("table[aria-label=Sandboxes]")?.getAttribute("aria-busy") === "false");
    if (await row().count()) throw new Error("the team key lists the operator's sandbox");
    await page.click('nav a:has-text("Keys")');
    const e = page.locator(".card .error").first();
    await e.waitFor({ timeout: 10000 });
    const t = await e.textContent();
    if (!/403/.test(t)) throw new Error("keys page with a team key: " + t);
    await page.click("button.signout");
    await page.fill("#apikey", KEY);
    await page.click("button[type=submit]");
    await page.click('nav a:has-text("Sandboxes")');
    await row().waitFor({ timeout: 10000 });
  });

  await step("kill from the list", async () => {
    await row().locator('button:has-text("Kill")').click();
    await row().waitFor({ state: "detached", timeout: 60000 });
    sbId = null;
  });

  await step("no script errors in the page", async () => {
    // expected: the wrong key (401), the bad timeout (400), keys with a team key (403), the reset
    const real = consoleErrors.filter((e) => !/status of (400|401|403)|WebSocket/.test(e));
    if (real.length) throw new Error(real.join("\n"));
  });
} finally {
  await browser.close();
}
console.log(`# dashboard: ${n - failed}/${n} passed in ${secs()}s`);
process.exit(failed ? 1 : 0);
