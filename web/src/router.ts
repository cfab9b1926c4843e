// Hash-based routing: #/editor, #/jobs, #/jobs/<name>, #/catalog[/<db>/<table>], #/connectors.
import { useEffect, useState } from "react";

export type Route =
  | { page: "editor" }
  | { page: "jobs" }
  | { page: "job"; name: string }
  | { page: "catalog"; database?: string; table?: string }
  | { page: "connectors" };

export function parseHash(hash: string): Route {
  const parts = hash.replace(/^#\/?/, "").split("/").filter(Boolean).map(decodeURIComponent);
  switch (parts[0]) {
    case "jobs":
      return parts[1] ? { page: "job", name: parts[1] } : { page: "jobs" };
    case "catalog":
      return { page: "catalog", database: parts[1], table: parts[2] };
    case "connectors":
      return { page: "connectors" };
    default:
      return { page: "editor" };
  }
}

export function href(route: Route): string {
  const enc = encodeURIComponent;
  switch (route.page) {
    case "editor":
      return "#/editor";
    case "jobs":
      return "#/jobs";
    case "job":
      return `#/jobs/${enc(route.name)}`;
    case "catalog":
      return route.database && route.table ? `#/catalog/${enc(route.database)}/${enc(route.table)}` : "#/catalog";
    case "connectors":
      return "#/connectors";
  }
}

export function navigate(route: Route): void {
  window.location.hash = href(route);
}

/** The current route, following hash changes. */
export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseHash(window.location.hash));
  useEffect(() => {
    const onChange = () => setRoute(parseHash(window.location.hash));
    window.addEventListener("hashchange", onChange);
    return () => window.removeEventListener("hashchange", onChange);
  }, []);
  return route;
}
