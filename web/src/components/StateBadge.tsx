// StateBadge: a deployment's or preview's state as a coloured label.
const tone: Record<string, string> = {
  RUNNING: "ok",
  FINISHED: "done",
  CREATED: "idle",
  FAILING: "warn",
  RESTARTING: "warn",
  SUSPENDED: "idle",
  CANCELLED: "idle",
  FAILED: "bad",
};

export function StateBadge({ state, id }: { state: string; id?: string }) {
  return (
    <span className={`badge badge-${tone[state] ?? "idle"}`} id={id} data-state={state}>
      {state}
    </span>
  );
}
