// Typed access to the Rask REST API: an openapi-fetch client over the types generated from the
// server's OpenAPI document (schema.d.ts, `npm run gen`), and ApiError, which every failed call
// (an error answer, or no answer at all) becomes so that the UI can show it.
import createClient from "openapi-fetch";
import type { components, paths } from "./schema";

export type Schemas = components["schemas"];
export type Deployment = Schemas["Deployment"];
export type LiveStatus = Schemas["LiveStatus"];
export type CheckpointInfo = Schemas["CheckpointInfo"];
export type DeploymentMetrics = Schemas["DeploymentMetrics"];
export type OperatorMetrics = Schemas["OperatorMetrics"];
export type Sample = Schemas["Sample"];
export type CatalogFunction = Schemas["CatalogFunction"];
export type JobEvent = Schemas["JobEvent"];
export type JobException = Schemas["JobException"];
export type JobGraph = Schemas["JobGraph"];
export type GraphNode = Schemas["GraphNode"];
export type StatementResult = Schemas["StatementResult"];
export type Validation = Schemas["Validation"];
export type Preview = Schemas["Preview"];
export type PreviewRow = Schemas["PreviewRow"];
export type CatalogTree = Schemas["CatalogTree"];
export type CatalogTable = Schemas["CatalogTable"];
export type ConnectorInfo = Schemas["ConnectorInfo"];

/** Relative URLs: the console is served by the server it talks to. */
export const api = createClient<paths>({ baseUrl: "" });

/** A failed API call: the server's error body (code, message, line and column of SQL errors). */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly line?: number;
  readonly column?: number;

  constructor(status: number, code: string, message: string, line?: number | null, column?: number | null) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    if (line != null) this.line = line;
    if (column != null) this.column = column;
  }

  /** "message (line L, column C)" as shown to the user. */
  describe(): string {
    const at = this.line != null ? ` (line ${this.line}${this.column != null ? `, column ${this.column}` : ""})` : "";
    return `${this.message}${at}`;
  }
}

/** Any thrown value as an ApiError (unexpected exceptions keep their message). */
export function toApiError(e: unknown): ApiError {
  if (e instanceof ApiError) return e;
  if (e instanceof Error) return new ApiError(0, "client", e.message);
  return new ApiError(0, "client", String(e));
}

function fromResponse(response: Response, body: unknown): ApiError {
  const detail = (body as { error?: Schemas["ErrorDetail"] } | undefined)?.error;
  if (detail && typeof detail === "object" && typeof detail.message === "string") {
    return new ApiError(response.status, detail.code ?? "error", detail.message, detail.line, detail.column);
  }
  const text = typeof body === "string" ? body.trim() : "";
  const fallback = `HTTP ${response.status} ${response.statusText}`.trim();
  return new ApiError(response.status, "http", text ? `${fallback}: ${text.slice(0, 500)}` : fallback);
}

type Answer<T> = { data?: T; error?: unknown; response: Response };

/**
 * The data of an openapi-fetch call, or an ApiError thrown for an error answer or a failed
 * request. Usage: `await call(api.GET("/api/v1/deployments"))`.
 */
export async function call<T>(request: Promise<Answer<T>>): Promise<T> {
  let answer: Answer<T>;
  try {
    answer = await request;
  } catch (e) {
    if (e instanceof DOMException && e.name === "AbortError") throw e;
    throw new ApiError(0, "network", `cannot reach the server: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (!answer.response.ok) throw fromResponse(answer.response, answer.error);
  return answer.data as T;
}
