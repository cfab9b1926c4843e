// The connectors page: the registry — each connector's description, whether it is a source,
// a sink or a lookup source, and its options (key, required, default, doc).
import { useState } from "react";
import { api, call } from "../api/client";
import { ErrorBanner } from "../components/ErrorBanner";
import { TableHead, type Column } from "../components/TableHead";
import { usePoll } from "../usePoll";

const OPTION_COLUMNS: Column[] = [{ label: "Option" }, { label: "Required" }, { label: "Default" }, { label: "Description" }];

export function ConnectorsPage() {
  const connectors = usePoll(() => call(api.GET("/api/v1/connectors")), null, []);
  const [filter, setFilter] = useState("");
  const f = filter.trim().toLowerCase();
  const list = (connectors.data ?? []).filter((c) => !f || c.name.toLowerCase().includes(f) || c.description.toLowerCase().includes(f) || c.options.some((o) => o.key.toLowerCase().includes(f)));
  return (
    <div className="page">
      <div className="page-head">
        <h1 tabIndex={-1}>Connectors</h1>
        <label className="inline">
          Filter
          <input type="search" value={filter} onChange={(e) => setFilter(e.target.value)} placeholder="name or option" />
        </label>
      </div>
      <ErrorBanner error={connectors.error} context="Loading the connectors" />
      {connectors.data && list.length === 0 && <p className="muted">No connector matches.</p>}
      <nav className="chips" aria-label="Connectors">
        {list.map((c) => (
          <a key={c.name} href={`#connector-${c.name}`} onClick={(e) => { e.preventDefault(); document.getElementById(`connector-${c.name}`)?.scrollIntoView(); document.getElementById(`connector-${c.name}-h`)?.focus(); }}>
            {c.name}
          </a>
        ))}
      </nav>
      {list.map((c) => (
        <section key={c.name} className="card connector" id={`connector-${c.name}`} aria-labelledby={`connector-${c.name}-h`}>
          <div className="card-head">
            <h2 id={`connector-${c.name}-h`} tabIndex={-1}>
              {c.name}
            </h2>
            <span className="flags">
              <span className={c.source ? "flag on" : "flag"}>source</span>
              <span className={c.sink ? "flag on" : "flag"}>sink</span>
              <span className={c.lookup ? "flag on" : "flag"}>lookup</span>
            </span>
          </div>
          <p>{c.description}</p>
          {c.options.length > 0 ? (
            <table className="data options">
              <TableHead columns={OPTION_COLUMNS} />
              <tbody>
                {c.options.map((o) => (
                  <tr key={o.key}>
                    <td className="mono nowrap">{o.key}</td>
                    <td>{o.required ? <strong>yes</strong> : "no"}</td>
                    <td className="mono">{o.default ?? "–"}</td>
                    <td>{o.doc}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          ) : (
            <p className="muted">No options.</p>
          )}
        </section>
      ))}
    </div>
  );
}
