// End-to-end test of the web console against a real `rask server`: headless Chromium (Debian's,
// driven by playwright-core) previews a SELECT in the editor, sees a SQL error at its line and
// column, deploys an INSERT INTO, watches the job run and stops it with a savepoint. Screenshots
// of each step go to e2e/artifacts/. Run with `npm run e2e` (or `scripts/web.sh test`).
//
// Environment: RASK_BIN (default ~/.cache/rask-target/debug/rask), CHROMIUM (default
// /usr/bin/chromium), E2E_KEEP=1 keeps the server's data directory.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const RASK_BIN = process.env.RASK_BIN || path.join(homedir(), ".cache/rask-target/debug/rask");
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const ARTIFACTS = fileURLToPath(new URL("./artifacts/", import.meta.url));
const TIMEOUT_MS = 60_000;
const JOB = "e2e_job";

/** The server under test: its process, base URL and the tail of its output. */
class Server {
  constructor() {
    this.dataDir = mkdtempSync(path.join(tmpdir(), "rask-e2e-"));
    this.output = "";
    this.exited = null;
  }

  /** Start `rask server` on a free port and wait for its "listening on" line. */
  async start() {
    assert.ok(existsSync(RASK_BIN), `no rask binary at ${RASK_BIN} (build it, or set RASK_BIN)`);
    // Its own process group, so that its workers can be stopped with it.
    this.child = spawn(RASK_BIN, ["server", "--listen", "127.0.0.1:0", "--data-dir", this.dataDir], {
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
    });
    const keep = (chunk) => {
      this.output = (this.output + chunk.toString()).slice(-20_000);
    };
    this.child.stderr.on("data", keep);
    this.child.on("exit", (code, signal) => {
      this.exited = { code, signal };
    });
    this.base = await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`rask server did not say where it listens within ${TIMEOUT_MS / 1000} s:\n${this.output}`)), TIMEOUT_MS);
      this.child.stdout.on("data", (chunk) => {
        keep(chunk);
        const m = /rask server listening on (http:\/\/[^\s]+)/.exec(this.output);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]);
        }
      });
      this.child.on("exit", (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`rask server exited (code ${code}, signal ${signal}) before listening:\n${this.output}`));
      });
      this.child.on("error", (e) => {
        clearTimeout(timer);
        reject(new Error(`cannot start ${RASK_BIN}: ${e.message}`));
      });
    });
    return this.base;
  }

  /** One API call; answers { status, body } with body parsed as JSON when it is. */
  async call(method, url, body) {
    const res = await fetch(this.base + url, {
      method,
      headers: body === undefined ? {} : { "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
    const text = await res.text();
    let parsed = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // text/plain answers stay text
    }
    return { status: res.status, body: parsed };
  }

  /** Stop the job if it still runs, then the server and its process group. */
  async stop(keepData) {
    if (!this.child) return;
    if (this.base && !this.exited) {
      try {
        const { body } = await this.call("GET", `/api/v1/deployments/${JOB}`);
        if (body && (body.state === "RUNNING" || body.state === "RESTARTING")) {
          await this.call("POST", `/api/v1/deployments/${JOB}/stop`, { savepoint: false });
        }
      } catch {
        // The server is going away anyway; its process group is killed next.
      }
    }
    const pgid = this.child.pid;
    const signal = (sig) => {
      try {
        process.kill(-pgid, sig);
      } catch {
        // already gone
      }
    };
    if (!this.exited) {
      signal("SIGTERM");
      const deadline = Date.now() + 5000;
      while (!this.exited && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    }
    signal("SIGKILL");
    if (keepData) console.log(`server data kept in ${this.dataDir}`);
    else rmSync(this.dataDir, { recursive: true, force: true });
  }

  tail(lines = 30) {
    return this.output.trimEnd().split("\n").slice(-lines).join("\n");
  }
}

test("web console: preview, SQL error, deploy, metrics, stop with savepoint", { timeout: 12 * 60_000 }, async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  const server = new Server();
  let browser;
  let page;
  let failed = true;
  const pageErrors = [];
  let shot = 0;

  /** Screenshot named after the step, numbered in order. */
  const screenshot = async (name) => {
    shot += 1;
    const file = path.join(ARTIFACTS, `${String(shot).padStart(2, "0")}-${name}.png`);
    await page.screenshot({ path: file, fullPage: false });
    console.log(`screenshot ${path.relative(process.cwd(), file)}`);
  };

  /** What the page shows as errors, for failure messages. */
  const pageProblems = async () => {
    if (!page) return "";
    const banners = await page
      .$$eval(".error-banner", (els) => els.map((e) => e.textContent?.trim()).filter(Boolean))
      .catch(() => []);
    return banners.length ? `\nerrors shown on the page:\n  ${banners.join("\n  ")}` : "\n(no error shown on the page)";
  };

  /** Wait for a condition in the page, failing with a clear message after TIMEOUT_MS. */
  const waitFor = async (what, fn, arg) => {
    try {
      return await page.waitForFunction(fn, arg, { timeout: TIMEOUT_MS, polling: 200 });
    } catch (e) {
      await page.screenshot({ path: path.join(ARTIFACTS, `failed-${what.replace(/[^a-z0-9]+/gi, "-").slice(0, 60)}.png`) }).catch(() => {});
      throw new Error(`timed out after ${TIMEOUT_MS / 1000} s waiting for ${what}${await pageProblems()}\nserver output (tail):\n${server.tail()}\n(${e.message.split("\n")[0]})`);
    }
  };

  /** Replace the editor's text, as typed (without auto-completion getting in the way). */
  const typeSql = async (sql) => {
    await page.click("#sql-editor .cm-content");
    await page.keyboard.press("ControlOrMeta+a");
    await page.keyboard.insertText(sql);
  };

  try {
    const base = await server.start();
    console.log(`rask server at ${base}, data in ${server.dataDir}`);

    // The tables the test works with, made through the API.
    const ddl = await server.call("POST", "/api/v1/statements", {
      sql: "CREATE TABLE src (id BIGINT, name STRING) WITH ('connector'='datagen','rows-per-second'='500');\nCREATE TABLE sink (id BIGINT, name STRING) WITH ('connector'='blackhole')",
    });
    assert.equal(ddl.status, 200, `creating the tables failed: ${JSON.stringify(ddl.body)}`);

    const index = await fetch(base + "/");
    const html = await index.text();
    assert.ok(index.ok && html.includes('id="root"'), `the server does not serve the console at / (HTTP ${index.status}: ${html.slice(0, 200)}); build web/dist with scripts/web.sh`);

    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ["--no-sandbox", "--disable-dev-shm-usage"] });
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    page = await context.newPage();
    page.on("pageerror", (e) => pageErrors.push(e.message));
    page.on("console", (m) => {
      if (m.type() === "error") console.log(`browser console error: ${m.text()}`);
    });

    // 1. The editor, with the catalog beside it.
    await page.goto(`${base}/#/editor`);
    await waitFor("the SQL editor", () => !!document.querySelector("#sql-editor .cm-content"));
    await waitFor("table 'src' in the catalog tree", () => !!document.querySelector('#catalog-tree [data-table="src"]'));
    await waitFor("the server health 'ok' in the header", () => document.querySelector("#server-health")?.textContent?.includes("ok"));
    await screenshot("editor");

    // 2. Preview a SELECT with Ctrl+Enter: rows stream into the result table.
    await typeSql("SELECT id, name FROM src");
    await page.keyboard.press("Control+Enter");
    await waitFor("at least one preview row", () => document.querySelectorAll("#preview-table tbody tr").length >= 1);
    const kind = await page.textContent("#preview-table tbody tr td.kind-col");
    assert.equal(kind?.trim(), "+I", "a SELECT of an append-only table previews +I rows");
    await screenshot("preview");
    if (await page.isEnabled("#btn-stop-preview")) await page.click("#btn-stop-preview");

    // 3. A bad statement: the error names its line and column, and the editor marks it.
    await typeSql("SELECT id, name\nFROM no_such_table");
    await page.click("#btn-validate");
    await waitFor("the SQL error with a line and column", () => document.querySelector("#sql-error[data-line]") !== null);
    const err = await page.$eval("#sql-error", (e) => ({ line: e.dataset.line, column: e.dataset.column, text: e.textContent }));
    console.log(`SQL error shown: ${err.text}`);
    assert.equal(err.line, "2", `the error is on line 2 (shown: ${err.text})`);
    assert.ok(err.column, `the error has a column (shown: ${err.text})`);
    assert.match(err.text ?? "", /line 2, column \d+/);
    await waitFor("the error marked in the editor", () => !!document.querySelector("#sql-editor .cm-lintRange-error"));
    await screenshot("sql-error");

    // 4. Deploy an INSERT INTO: the job page opens and the job runs.
    await typeSql("INSERT INTO sink SELECT id, name FROM src");
    await page.fill("#deploy-name", JOB);
    await page.fill("#deploy-parallelism", "1");
    await page.click("#btn-deploy");
    await waitFor("the job page", (job) => window.location.hash === `#/jobs/${job}`, JOB);
    await waitFor("the job to be RUNNING", () => document.querySelector("#job-state")?.getAttribute("data-state") === "RUNNING");
    await screenshot("job-running");

    // 5. Metrics: the throughput chart plots non-zero rates; the operator graph is drawn.
    await waitFor("non-zero throughput in the chart", () => Number(document.querySelector("#chart-throughput")?.getAttribute("data-last-value") || 0) > 0);
    await waitFor("the operator graph", () => document.querySelectorAll("#operator-graph .node").length >= 1);
    const last = await page.getAttribute("#chart-throughput", "data-last-value");
    console.log(`throughput chart's last value: ${last} records/s`);
    await screenshot("job-metrics");

    // 6. Stop with a savepoint: the job is suspended and the savepoint is shown.
    await page.click("#btn-stop-savepoint");
    await waitFor("the job to be SUSPENDED", () => document.querySelector("#job-state")?.getAttribute("data-state") === "SUSPENDED");
    await waitFor("the savepoint's path", () => (document.querySelector("#job-last-savepoint")?.textContent ?? "–").trim() !== "–");
    await screenshot("job-suspended");

    // 7. The other pages: the jobs list, the catalog, the connectors.
    await page.goto(`${base}/#/jobs`);
    await waitFor("the job in the jobs list", (job) => !!document.querySelector(`#jobs-table [data-job="${job}"]`), JOB);
    await screenshot("jobs");
    await page.goto(`${base}/#/catalog/default_database/src`);
    await waitFor("the DDL of 'src'", () => (document.querySelector("#catalog-ddl")?.textContent ?? "").toUpperCase().includes("CREATE"));
    await screenshot("catalog");
    await page.goto(`${base}/#/connectors`);
    await waitFor("the datagen connector", () => !!document.querySelector("#connector-datagen"));
    await screenshot("connectors");

    assert.deepEqual(pageErrors, [], "uncaught errors in the page");
    failed = false;
  } finally {
    if (failed && pageErrors.length) console.log(`uncaught page errors:\n${pageErrors.join("\n")}`);
    if (failed) console.log(`server output (tail):\n${server.tail()}`);
    await browser?.close().catch(() => {});
    await server.stop(failed || process.env.E2E_KEEP === "1");
  }
});
