// The SQL editor page: catalog tree, CodeMirror editor with validation as you type, Run DDL,
// Preview of a SELECT (rows streamed into a table with their change kind) and Deploy as a job.
import { useCallback, useEffect, useMemo, useRef, useState, type FormEvent } from "react";
import type { SQLNamespace } from "@codemirror/lang-sql";
import { ApiError, api, call, toApiError, type Preview, type PreviewRow, type StatementResult, type Validation } from "../api/client";
import { CatalogTree } from "../components/CatalogTree";
import { ErrorBanner } from "../components/ErrorBanner";
import { StateBadge } from "../components/StateBadge";
import { StatementResults } from "../components/StatementResults";
import { SqlEditor, type SqlEditorHandle, type SqlProblem } from "../editor/SqlEditor";
import { navigate } from "../router";
import { usePoll } from "../usePoll";

const STORAGE_KEY = "rask.editor.sql";
const DEFAULT_SQL = "-- Ctrl/Cmd+Enter previews a SELECT; Deploy runs an INSERT INTO as a job.\nSHOW TABLES";
const PREVIEW_POLL_MS = 300;

type Result =
  | { kind: "none" }
  | { kind: "statements"; results: StatementResult[] }
  | { kind: "plan"; validation: Validation }
  | { kind: "preview" };

interface PreviewState {
  id: string;
  state: string;
  columns: string[];
  rows: PreviewRow[];
  total: number;
  error?: string | null;
  message?: string | null;
}

type Validity = { status: "idle" } | { status: "checking" } | { status: "ok"; validation: Validation } | { status: "error"; error: ApiError };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function problemsOf(e: ApiError): SqlProblem[] {
  return e.line != null ? [{ message: e.message, line: e.line, column: e.column }] : [];
}

export function EditorPage() {
  const editor = useRef<SqlEditorHandle>(null);
  const initial = useMemo(() => localStorage.getItem(STORAGE_KEY) ?? DEFAULT_SQL, []);
  const [text, setText] = useState(initial);
  const catalog = usePoll(() => call(api.GET("/api/v1/catalog")), null, []);
  const [validity, setValidity] = useState<Validity>({ status: "idle" });
  const [autoCheck, setAutoCheck] = useState(true);
  const [actionError, setActionError] = useState<{ context: string; error: ApiError } | null>(null);
  const [busy, setBusy] = useState<string | null>(null);
  const [result, setResult] = useState<Result>({ kind: "none" });
  const [preview, setPreview] = useState<PreviewState | null>(null);
  const [maxRows, setMaxRows] = useState(100);
  const [jobName, setJobName] = useState("");
  const [parallelism, setParallelism] = useState(1);
  const previewToken = useRef(0);
  const runningPreview = useRef<string | null>(null);
  const validationSeq = useRef(0);

  const schema = useMemo<SQLNamespace | undefined>(() => {
    const tree = catalog.data;
    if (!tree) return undefined;
    const ns: Record<string, string[]> = {};
    for (const db of tree.databases) for (const t of db.tables) ns[t.name] = t.columns.map((c) => c.name);
    return ns;
  }, [catalog.data]);

  /** Show an action's failure; SQL errors are also marked in the editor. */
  const fail = useCallback((context: string, e: unknown, offset: number) => {
    const error = toApiError(e);
    setActionError({ context, error });
    editor.current?.showProblems(problemsOf(error), offset);
  }, []);

  const validate = useCallback(async (explicit: boolean) => {
    const h = editor.current;
    if (!h) return;
    const { text: sql, offset } = h.statementText();
    const seq = ++validationSeq.current;
    if (!sql.trim()) {
      setValidity({ status: "idle" });
      h.showProblems([], 0);
      return;
    }
    setValidity({ status: "checking" });
    try {
      const v = await call(api.POST("/api/v1/validate", { body: { sql } }));
      if (seq !== validationSeq.current) return;
      setValidity({ status: "ok", validation: v });
      h.showProblems([], 0);
      if (explicit && v.plan) setResult({ kind: "plan", validation: v });
    } catch (e) {
      if (seq !== validationSeq.current) return;
      const error = toApiError(e);
      setValidity({ status: "error", error });
      h.showProblems(problemsOf(error), offset);
    }
  }, []);

  // Validate as the text changes (after a pause in typing).
  useEffect(() => {
    localStorage.setItem(STORAGE_KEY, text);
    if (!autoCheck) return;
    const t = setTimeout(() => void validate(false), 700);
    return () => clearTimeout(t);
  }, [text, autoCheck, validate]);

  const runDdl = useCallback(async () => {
    const h = editor.current;
    if (!h) return;
    const { text: sql, offset } = h.statementText();
    setBusy("ddl");
    setActionError(null);
    try {
      const results = await call(api.POST("/api/v1/statements", { body: { sql } }));
      setResult({ kind: "statements", results });
      h.showProblems([], 0);
      catalog.refresh();
    } catch (e) {
      fail("Run DDL", e, offset);
    } finally {
      setBusy(null);
    }
  }, [catalog, fail]);

  const stopPreview = useCallback(async () => {
    const id = runningPreview.current;
    previewToken.current++;
    runningPreview.current = null;
    if (!id) return;
    setPreview((p) => (p && p.id === id && p.state === "RUNNING" ? { ...p, state: "CANCELLED" } : p));
    try {
      await call(api.DELETE("/api/v1/previews/{id}", { params: { path: { id } } }));
    } catch (e) {
      fail("Stopping the preview", e, 0);
    }
  }, [fail]);

  const startPreview = useCallback(async () => {
    const h = editor.current;
    if (!h) return;
    if (runningPreview.current) await stopPreview();
    const { text: sql, offset } = h.statementText();
    const token = ++previewToken.current;
    setBusy("preview");
    setActionError(null);
    let p: Preview;
    try {
      p = await call(api.POST("/api/v1/previews", { body: { sql, max_rows: maxRows } }));
    } catch (e) {
      setBusy(null);
      fail("Preview", e, offset);
      return;
    }
    setBusy(null);
    h.showProblems([], 0);
    runningPreview.current = p.state === "RUNNING" ? p.id : null;
    let rows = p.rows;
    let state: PreviewState = { id: p.id, state: p.state, columns: p.columns, rows, total: p.total, error: p.error, message: p.message };
    setPreview(state);
    setResult({ kind: "preview" });
    while (state.state === "RUNNING") {
      await sleep(PREVIEW_POLL_MS);
      if (token !== previewToken.current) return;
      try {
        const next = await call(api.GET("/api/v1/previews/{id}", { params: { path: { id: p.id }, query: { after: rows.length } } }));
        if (token !== previewToken.current) return;
        rows = next.rows.length ? rows.concat(next.rows) : rows;
        state = { id: p.id, state: next.state, columns: next.columns.length ? next.columns : state.columns, rows, total: next.total, error: next.error, message: next.message };
        setPreview(state);
      } catch (e) {
        if (token !== previewToken.current) return;
        runningPreview.current = null;
        setPreview({ ...state, state: "FAILED" });
        fail("Fetching preview rows", e, offset);
        return;
      }
    }
    if (token === previewToken.current) runningPreview.current = null;
  }, [maxRows, fail, stopPreview]);

  // Stop a running preview when leaving the page.
  useEffect(
    () => () => {
      const id = runningPreview.current;
      previewToken.current++;
      if (id) {
        call(api.DELETE("/api/v1/previews/{id}", { params: { path: { id } } })).catch((e: unknown) => {
          // The page is gone: the console is the only place left to tell.
          console.error("stopping the preview failed", e);
        });
      }
    },
    [],
  );

  const deploy = useCallback(
    async (ev?: FormEvent) => {
      ev?.preventDefault();
      const h = editor.current;
      if (!h) return;
      const { text: sql, offset } = h.statementText();
      const name = jobName.trim();
      if (!name) {
        setActionError({ context: "Deploy", error: new ApiError(0, "input", "give the job a name") });
        document.getElementById("deploy-name")?.focus();
        return;
      }
      setBusy("deploy");
      setActionError(null);
      try {
        const d = await call(api.POST("/api/v1/deployments", { body: { name, sql, parallelism } }));
        navigate({ page: "job", name: d.name });
      } catch (e) {
        fail("Deploy", e, offset);
      } finally {
        setBusy(null);
      }
    },
    [jobName, parallelism, fail],
  );

  const previewRunning = preview?.state === "RUNNING";

  return (
    <div className="editor-page">
      <aside className="editor-side" aria-label="Catalog">
        <div className="side-head">
          <h2>Catalog</h2>
          <button type="button" className="ghost small" onClick={catalog.refresh} aria-label="Reload the catalog">
            ↻
          </button>
        </div>
        <ErrorBanner error={catalog.error} context="Loading the catalog" />
        <CatalogTree tree={catalog.data} onInsert={(t) => editor.current?.insert(t)} />
      </aside>

      <div className="editor-main">
        <h1 className="visually-hidden" tabIndex={-1}>
          SQL editor
        </h1>
        <div className="toolbar" role="toolbar" aria-label="Statement actions">
          <button type="button" id="btn-preview" className="primary" onClick={() => void startPreview()} disabled={busy === "preview"} title="Preview a SELECT (Ctrl/Cmd+Enter)">
            ▶ Preview
          </button>
          <button type="button" id="btn-stop-preview" onClick={() => void stopPreview()} disabled={!previewRunning}>
            ■ Stop preview
          </button>
          <button type="button" id="btn-run-ddl" onClick={() => void runDdl()} disabled={busy === "ddl"} title="Run catalog statements: CREATE/DROP, SHOW, DESCRIBE, EXPLAIN">
            Run DDL
          </button>
          <button type="button" id="btn-validate" onClick={() => void validate(true)}>
            Validate
          </button>
          <label className="inline small">
            <input type="checkbox" checked={autoCheck} onChange={(e) => setAutoCheck(e.target.checked)} /> check as I type
          </label>
          <label className="inline small">
            Max rows
            <input type="number" id="preview-max-rows" min={1} max={10000} value={maxRows} onChange={(e) => setMaxRows(Math.max(1, Number(e.target.value) || 1))} className="num" />
          </label>
          <span className="muted small hint">Runs the selection, or everything when nothing is selected.</span>
        </div>

        <SqlEditor ref={editor} id="sql-editor" label="SQL statements" initialText={initial} schema={schema} onChange={setText} onRun={() => void startPreview()} />

        <div className="validity" id="validation-status" data-status={validity.status} aria-live="polite">
          {validity.status === "checking" && <span className="muted">Checking…</span>}
          {validity.status === "ok" && (
            <span className="ok-text">
              ✓ Valid {validity.validation.kind === "job" ? "job (deploy it)" : validity.validation.kind === "query" ? "query (preview it)" : validity.validation.kind === "ddl" ? "DDL (run it)" : "statement"}
              {validity.validation.plan && (
                <button type="button" className="link small" onClick={() => setResult({ kind: "plan", validation: validity.validation })}>
                  show plan
                </button>
              )}
            </span>
          )}
        </div>
        {validity.status === "error" && <ErrorBanner id="sql-error" error={validity.error} context="Validation" />}
        {actionError && <ErrorBanner id="action-error" error={actionError.error} context={actionError.context} onDismiss={() => setActionError(null)} />}

        <form className="deploy-form" onSubmit={(e) => void deploy(e)} aria-label="Deploy as a job">
          <label>
            Job name
            <input id="deploy-name" value={jobName} onChange={(e) => setJobName(e.target.value)} placeholder="my-job" autoComplete="off" />
          </label>
          <label>
            Parallelism
            <input id="deploy-parallelism" type="number" min={1} max={256} value={parallelism} onChange={(e) => setParallelism(Math.max(1, Number(e.target.value) || 1))} className="num" />
          </label>
          <button type="submit" id="btn-deploy" disabled={busy === "deploy"}>
            {busy === "deploy" ? "Deploying…" : "Deploy"}
          </button>
          <span className="muted small">An INSERT INTO (with SET statements) runs as a job.</span>
        </form>

        <section className="results" aria-label="Results">
          {result.kind === "none" && <p className="muted">Results appear here.</p>}
          {result.kind === "statements" && <StatementResults results={result.results} />}
          {result.kind === "plan" && (
            <div>
              <h3>Plan ({result.validation.kind})</h3>
              <pre className="plan" id="validation-plan">
                {result.validation.plan}
              </pre>
            </div>
          )}
          {result.kind === "preview" && preview && <PreviewTable preview={preview} />}
        </section>
      </div>
    </div>
  );
}

function PreviewTable({ preview }: { preview: PreviewState }) {
  return (
    <div className="preview" id="preview" data-state={preview.state} data-rows={preview.rows.length}>
      <div className="preview-head">
        <StateBadge state={preview.state} />
        <span className="muted small" aria-live="polite">
          {preview.rows.length} row{preview.rows.length === 1 ? "" : "s"}
          {preview.state === "RUNNING" ? " so far…" : ""}
        </span>
        {preview.message && <span className="muted small">{preview.message}</span>}
      </div>
      {preview.error && <ErrorBanner error={new ApiError(0, "preview", preview.error)} context="The preview" />}
      <div className="table-scroll">
        <table className="data" id="preview-table">
          <thead>
            <tr>
              <th scope="col" className="kind-col" title="Change kind: +I insert, -U/+U update before/after, -D delete">
                kind
              </th>
              {preview.columns.map((c, i) => (
                <th key={i} scope="col">
                  {c}
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {preview.rows.map((r, i) => (
              <tr key={i} className={`row-${r.kind === "+I" ? "insert" : r.kind === "-D" ? "delete" : r.kind === "-U" ? "before" : "after"}`}>
                <td className="kind-col mono">{r.kind}</td>
                {r.values.map((v, j) => (
                  <td key={j} className={v == null ? "null" : undefined} title={v != null && v.length > 40 ? v : undefined}>
                    {v ?? "NULL"}
                  </td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </div>
  );
}
