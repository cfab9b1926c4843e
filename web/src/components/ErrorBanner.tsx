// ErrorBanner: how an API error is shown — its code, message and (for SQL) line and column,
// in a live region so that screen readers announce it.
import type { ApiError } from "../api/client";

interface Props {
  error?: ApiError | null;
  /** What was being done, e.g. "Loading the jobs". */
  context?: string;
  onDismiss?: () => void;
  id?: string;
}

export function ErrorBanner({ error, context, onDismiss, id }: Props) {
  if (!error) return null;
  return (
    <div
      className="error-banner"
      role="alert"
      id={id}
      data-code={error.code}
      data-line={error.line ?? undefined}
      data-column={error.column ?? undefined}
    >
      <div className="error-text">
        <strong>{context ? `${context} failed` : "Error"}</strong>
        {error.status ? <span className="error-code">{` ${error.status} ${error.code}`}</span> : <span className="error-code">{` ${error.code}`}</span>}
        <span>: {error.message}</span>
        {error.line != null && (
          <span className="error-pos">
            {" "}
            at line {error.line}
            {error.column != null ? `, column ${error.column}` : ""}
          </span>
        )}
      </div>
      {onDismiss && (
        <button type="button" className="ghost small" onClick={onDismiss} aria-label="Dismiss error">
          ✕
        </button>
      )}
    </div>
  );
}
