/**
 * Reads Alertmanager's API v2 (`GET /api/v2/alerts`). Alertmanager only knows alerts that are
 * firing now or resolved very recently, so the snapshot job records what it sees every run
 * (monitoring.alerts) and the monthly report reads that record. Unreachable is a normal state
 * (the monitoring stack is optional) and is reported as such, never thrown.
 */
export interface AlertSeen {
  readonly fingerprint: string;
  readonly alertname: string;
  readonly severity: string | null;
  readonly summary: string | null;
  readonly state: string;
  readonly startsAt: string;
  /** Set once resolved; Alertmanager puts a future "expected end" on firing alerts, which we drop. */
  readonly endsAt: string | null;
  readonly labels: Readonly<Record<string, string>>;
}

export type AlertmanagerResult =
  | { readonly reachable: true; readonly url: string; readonly alerts: readonly AlertSeen[] }
  | { readonly reachable: false; readonly url: string; readonly error: string };

interface ApiAlert {
  fingerprint?: unknown;
  startsAt?: unknown;
  endsAt?: unknown;
  labels?: unknown;
  annotations?: unknown;
  status?: { state?: unknown };
}

function stringRecord(v: unknown): Record<string, string> {
  if (!v || typeof v !== 'object') return {};
  return Object.fromEntries(Object.entries(v).filter(([, x]) => typeof x === 'string')) as Record<string, string>;
}

export function parseAlerts(body: unknown, now: Date): AlertSeen[] {
  if (!Array.isArray(body)) return [];
  return (body as ApiAlert[]).flatMap((a) => {
    if (typeof a.fingerprint !== 'string' || typeof a.startsAt !== 'string') return [];
    const labels = stringRecord(a.labels);
    const annotations = stringRecord(a.annotations);
    const state = typeof a.status?.state === 'string' ? a.status.state : 'unknown';
    const endsAt = typeof a.endsAt === 'string' && new Date(a.endsAt).getTime() <= now.getTime() ? a.endsAt : null;
    return [{
      fingerprint: a.fingerprint, alertname: labels.alertname ?? 'unnamed', severity: labels.severity ?? null,
      summary: annotations.summary ?? annotations.description ?? null, state, startsAt: a.startsAt, endsAt, labels,
    }];
  });
}

export async function fetchAlerts(baseUrl: string, now: Date = new Date(), timeoutMs = 2_000): Promise<AlertmanagerResult> {
  const url = `${baseUrl.replace(/\/+$/, '')}/api/v2/alerts`;
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), headers: { accept: 'application/json' } });
    if (!res.ok) return { reachable: false, url, error: `HTTP ${res.status}` };
    return { reachable: true, url, alerts: parseAlerts(await res.json(), now) };
  } catch (err) {
    const cause = err instanceof Error && err.cause instanceof Error ? `: ${err.cause.message}` : '';
    return { reachable: false, url, error: `${err instanceof Error ? err.message : String(err)}${cause}` };
  }
}
