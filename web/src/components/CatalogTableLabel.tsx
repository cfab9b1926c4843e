// CatalogTableLabel: how a catalog table or view is named in lists — its kind badge (T or V),
// its name and, if it has one, its connector.
import type { CatalogTable } from "../api/client";

export function CatalogTableLabel({ table }: { table: CatalogTable }) {
  return (
    <>
      <span className={`kind kind-${table.kind.toLowerCase()}`} title={table.kind}>
        {table.kind === "VIEW" ? "V" : "T"}
      </span>
      {table.name}
      {table.connector && <span className="muted small"> · {table.connector}</span>}
    </>
  );
}
