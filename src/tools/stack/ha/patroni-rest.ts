/**
 * Patroni's REST API as the stack and the tests read it. `/cluster` lists every member with
 * its role (leader | sync_standby | replica), state, timeline and lag in bytes; `/patroni`
 * is one member's own view.
 */
export interface PatroniClusterMember {
  readonly name: string;
  readonly role: 'leader' | 'sync_standby' | 'replica' | 'standby_leader';
  readonly state: string;
  readonly api_url: string;
  readonly host?: string;
  readonly port?: number;
  readonly timeline?: number;
  /** Bytes behind the leader; 'unknown' while a member reports no position. */
  readonly lag?: number | 'unknown';
}

export interface PatroniCluster { readonly members: readonly PatroniClusterMember[] }

export interface PatroniSelf {
  readonly state: string;
  readonly role: string;
  readonly timeline?: number;
  readonly xlog?: { readonly location?: number; readonly received_location?: number; readonly replayed_location?: number };
}

async function getJson<T>(url: string, timeoutMs: number): Promise<{ status: number; body: T } | undefined> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    return { status: res.status, body: await res.json() as T };
  } catch {
    return undefined;
  }
}

/** `/cluster` from the first of `restUrls` that answers, or undefined when none does. */
export async function fetchCluster(restUrls: readonly string[], timeoutMs = 1_000): Promise<PatroniCluster | undefined> {
  for (const url of restUrls) {
    const res = await getJson<PatroniCluster>(`${url}/cluster`, timeoutMs);
    if (res && res.status === 200 && Array.isArray(res.body.members)) return res.body;
  }
  return undefined;
}

export async function fetchSelf(restUrl: string, timeoutMs = 1_000): Promise<PatroniSelf | undefined> {
  const res = await getJson<PatroniSelf>(`${restUrl}/patroni`, timeoutMs);
  return res?.body;
}

/** The HTTP status HAProxy's health check would see for `path` (e.g. /primary, /replica?lag=16MB). */
export async function checkStatus(restUrl: string, path: string, timeoutMs = 1_000): Promise<number> {
  try {
    const res = await fetch(`${restUrl}${path}`, { signal: AbortSignal.timeout(timeoutMs) });
    await res.arrayBuffer();
    return res.status;
  } catch {
    return 0;
  }
}
