// The console's frame: a header with the server's health, the left navigation and the page of
// the current route; focus moves to the page heading on navigation.
import { Suspense, lazy, useEffect, useRef } from "react";
import { api, call } from "./api/client";
import { CatalogPage } from "./pages/CatalogPage";
import { ConnectorsPage } from "./pages/ConnectorsPage";
import { JobsPage } from "./pages/JobsPage";
import { href, useRoute, type Route } from "./router";
import { usePoll } from "./usePoll";

// The editor (CodeMirror) and the job page (ECharts) load on first use.
const EditorPage = lazy(() => import("./pages/EditorPage").then((m) => ({ default: m.EditorPage })));
const JobDetailPage = lazy(() => import("./pages/JobDetailPage").then((m) => ({ default: m.JobDetailPage })));

const NAV: { label: string; route: Route; match: Route["page"][] }[] = [
  { label: "SQL editor", route: { page: "editor" }, match: ["editor"] },
  { label: "Jobs", route: { page: "jobs" }, match: ["jobs", "job"] },
  { label: "Catalog", route: { page: "catalog" }, match: ["catalog"] },
  { label: "Connectors", route: { page: "connectors" }, match: ["connectors"] },
];

function Health() {
  const health = usePoll(() => call(api.GET("/api/v1/health", { parseAs: "text" })), 5000, []);
  const ok = health.data != null && !health.error;
  const text = health.error ? `server unreachable: ${health.error.message}` : ok ? "server ok" : "connecting…";
  return (
    <div className={`health ${health.error ? "bad" : ok ? "ok" : ""}`} id="server-health" role="status" title={text}>
      <span className="dot" aria-hidden />
      <span className="health-text">{text}</span>
    </div>
  );
}

function Page({ route }: { route: Route }) {
  switch (route.page) {
    case "editor":
      return <EditorPage />;
    case "jobs":
      return <JobsPage />;
    case "job":
      return <JobDetailPage key={route.name} name={route.name} />;
    case "catalog":
      return <CatalogPage database={route.database} table={route.table} />;
    case "connectors":
      return <ConnectorsPage />;
  }
}

export function App() {
  const route = useRoute();
  const main = useRef<HTMLElement>(null);
  const first = useRef(true);
  const key = route.page === "job" ? `job/${route.name}` : route.page;

  useEffect(() => {
    if (first.current) {
      first.current = false;
      return;
    }
    // Let the page render, then put the keyboard focus on its heading.
    const t = setTimeout(() => main.current?.querySelector<HTMLElement>("h1")?.focus(), 0);
    return () => clearTimeout(t);
  }, [key]);

  return (
    <div className="app">
      <a className="skip" href="#main" onClick={(e) => { e.preventDefault(); main.current?.focus(); }}>
        Skip to content
      </a>
      <header className="topbar">
        <a className="brand" href={href({ page: "editor" })}>
          <span className="logo" aria-hidden>
            R
          </span>
          Rask
        </a>
        <span className="muted small">stream processing console</span>
        <Health />
      </header>
      <nav className="sidenav" aria-label="Main">
        <ul>
          {NAV.map((n) => {
            const current = n.match.includes(route.page);
            return (
              <li key={n.label}>
                <a href={href(n.route)} aria-current={current ? "page" : undefined} className={current ? "current" : undefined}>
                  {n.label}
                </a>
              </li>
            );
          })}
        </ul>
        <p className="muted small nav-foot">
          <a href="/api/v1/openapi.json">OpenAPI</a>
        </p>
      </nav>
      <main id="main" ref={main} tabIndex={-1}>
        <Suspense fallback={<p className="muted page">Loading…</p>}>
          <Page route={route} />
        </Suspense>
      </main>
    </div>
  );
}
