// The catalog page: every database's tables, views and functions, and the selected table's or
// view's columns and DDL.
import { api, call, type CatalogFunction } from "../api/client";
import { CatalogTableLabel } from "../components/CatalogTableLabel";
import { ErrorBanner } from "../components/ErrorBanner";
import { TableHead, type Column } from "../components/TableHead";
import { href } from "../router";
import { usePoll } from "../usePoll";

const DETAIL_COLUMNS: Column[] = [{ label: "Name" }, { label: "Type" }];

export function CatalogPage({ database, table }: { database?: string; table?: string }) {
  const catalog = usePoll(() => call(api.GET("/api/v1/catalog")), null, []);
  const tree = catalog.data;
  const all = (tree?.databases ?? []).flatMap((db) => db.tables.map((t) => ({ db: db.name, t })));
  const selected = all.find((x) => x.db === database && x.t.name === table) ?? all[0];
  return (
    <div className="page">
      <div className="page-head">
        <h1 tabIndex={-1}>Catalog{tree ? ` ${tree.catalog}` : ""}</h1>
        <button type="button" onClick={catalog.refresh}>
          Reload
        </button>
      </div>
      <ErrorBanner error={catalog.error} context="Loading the catalog" />
      {tree && all.length === 0 && <p className="muted">No tables or views yet: create them with Run DDL in the editor.</p>}
      {all.length > 0 && (
        <div className="split">
          <nav className="list" aria-label="Tables and views">
            {(tree?.databases ?? []).map((db) => (
              <div key={db.name}>
                <h2 className="list-head">{db.name}</h2>
                <ul>
                  {db.tables.map((t) => {
                    const current = selected?.db === db.name && selected.t.name === t.name;
                    return (
                      <li key={t.name}>
                        <a href={href({ page: "catalog", database: db.name, table: t.name })} aria-current={current ? "page" : undefined} className={current ? "current" : undefined}>
                          <CatalogTableLabel table={t} />
                        </a>
                      </li>
                    );
                  })}
                </ul>
                {db.functions.length > 0 && <FunctionList functions={db.functions} label={`Functions of ${db.name}`} />}
              </div>
            ))}
            {(tree?.system_functions.length ?? 0) > 0 && (
              <div>
                <h2 className="list-head">system functions</h2>
                <FunctionList functions={tree?.system_functions ?? []} label="Temporary system functions" />
              </div>
            )}
          </nav>
          {selected && (
            <article className="detail" id="catalog-detail" data-table={selected.t.name}>
              <h2>
                {selected.db}.{selected.t.name} <span className="muted small">{selected.t.kind}</span>
              </h2>
              {selected.t.connector && (
                <p>
                  Connector <strong>{selected.t.connector}</strong> (<a href={href({ page: "connectors" })}>options</a>)
                </p>
              )}
              <h3>Columns</h3>
              <table className="data">
                <TableHead columns={DETAIL_COLUMNS} />
                <tbody>
                  {selected.t.columns.map((c) => (
                    <tr key={c.name}>
                      <td>{c.name}</td>
                      <td className="mono">{c.type}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
              <h3>DDL</h3>
              <pre className="plan" id="catalog-ddl">
                {selected.t.ddl}
              </pre>
            </article>
          )}
        </div>
      )}
    </div>
  );
}

/** A database's user-defined functions: name, implementation and language (DDL on hover). */
function FunctionList({ functions, label }: { functions: CatalogFunction[]; label: string }) {
  return (
    <ul aria-label={label} className="functions">
      {functions.map((f) => (
        <li key={f.name} title={f.ddl}>
          <span className="mono">{f.name}()</span>{" "}
          <span className="muted small">
            {f.identifier} · {f.language}
            {f.temporary ? " · temporary" : ""}
          </span>
        </li>
      ))}
    </ul>
  );
}
