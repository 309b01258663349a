import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../../src/config/index.ts';

const POOLER = 'postgres://app@127.0.0.1:64320/bgc';
const DIRECT = 'postgres://app@127.0.0.1:54320/bgc';

function problems(env: Record<string, string>): string[] {
  try {
    parseConfig(env);
    return [];
  } catch (err) {
    if (err instanceof ConfigError) return [...err.problems];
    throw err;
  }
}

describe('DATABASE_SESSION_URL (behind PgBouncer)', () => {
  it('without it: one address for pools and sessions, named statements on', () => {
    const c = parseConfig({ DATABASE_URL: DIRECT });
    expect(c.database).toMatchObject({ primaryUrl: DIRECT, primaryPoolUrl: DIRECT, transactionPooler: false, namedStatements: true });
  });

  it('with it: sessions go to the primary directly, the pool to DATABASE_URL, statements unnamed', () => {
    const c = parseConfig({ DATABASE_URL: POOLER, DATABASE_SESSION_URL: DIRECT });
    expect(c.database).toMatchObject({ primaryUrl: DIRECT, primaryPoolUrl: POOLER, transactionPooler: true, namedStatements: false });
  });

  it('BGC_DB_NAMED_STATEMENTS overrides the default either way (PgBouncer 1.21+ tracks named statements)', () => {
    expect(parseConfig({ DATABASE_URL: POOLER, DATABASE_SESSION_URL: DIRECT, BGC_DB_NAMED_STATEMENTS: 'true' }).database.namedStatements).toBe(true);
    expect(parseConfig({ DATABASE_URL: DIRECT, BGC_DB_NAMED_STATEMENTS: 'false' }).database.namedStatements).toBe(false);
  });

  it('refuses what cannot work: no DATABASE_URL, the same address twice, startup parameters PgBouncer 1.18 refuses', () => {
    expect(problems({ DATABASE_SESSION_URL: DIRECT }).join('\n')).toMatch(/DATABASE_SESSION_URL: set it together with DATABASE_URL/);
    expect(problems({ DATABASE_URL: POOLER, DATABASE_SESSION_URL: POOLER }).join('\n')).toMatch(/must reach the primary directly/);
    const refused = problems({
      DATABASE_URL: `${POOLER}?options=-c%20statement_timeout%3D5000`, DATABASE_SESSION_URL: DIRECT,
      DATABASE_REPLICA_URLS: 'postgres://app@127.0.0.1:64321/bgc?statement_timeout=5000',
    });
    expect(refused).toHaveLength(2);
    expect(refused[0]).toMatch(/^DATABASE_URL: PgBouncer 1.18 refuses the startup parameter options/);
    expect(refused[1]).toMatch(/^DATABASE_REPLICA_URLS: PgBouncer 1.18 refuses the startup parameter statement_timeout/);
  });

  it('DATABASE_REPLICA_SESSION_URLS: each replica directly, for its health checks; only behind PgBouncer, one per replica, never the pooled address', () => {
    const replicas = 'postgres://app@127.0.0.1:64321/bgc,postgres://app@127.0.0.1:64322/bgc';
    const direct = ['postgres://app@127.0.0.1:54321/bgc', 'postgres://app@127.0.0.1:54322/bgc'];
    const env = { DATABASE_URL: POOLER, DATABASE_SESSION_URL: DIRECT, DATABASE_REPLICA_URLS: replicas };
    expect(parseConfig({ ...env, DATABASE_REPLICA_SESSION_URLS: direct.join(',') }).database.replicaSessionUrls).toEqual(direct);
    expect(parseConfig(env).database.replicaSessionUrls).toEqual([]);
    expect(problems({ DATABASE_URL: DIRECT, DATABASE_REPLICA_URLS: direct.join(','), DATABASE_REPLICA_SESSION_URLS: direct.join(',') }).join('\n'))
      .toMatch(/DATABASE_REPLICA_SESSION_URLS: only behind PgBouncer/);
    expect(problems({ ...env, DATABASE_REPLICA_SESSION_URLS: direct[0] ?? '' }).join('\n')).toMatch(/1 URL\(s\) for 2 in DATABASE_REPLICA_URLS/);
    expect(problems({ ...env, DATABASE_REPLICA_SESSION_URLS: `${direct[0]},postgres://app@127.0.0.1:64322/bgc` }).join('\n'))
      .toMatch(/must reach the replica directly/);
    expect(problems({ ...env, DATABASE_REPLICA_SESSION_URLS: `${direct[0]},nope` }).join('\n')).toMatch(/DATABASE_REPLICA_SESSION_URLS: "nope" is not a URL/);
    expect(problems({ DATABASE_URL: POOLER, DATABASE_SESSION_URL: DIRECT, BGC_PATRONI_URLS: 'http://127.0.0.1:8008', DATABASE_REPLICA_SESSION_URLS: direct[0] ?? '' }).join('\n'))
      .toMatch(/there are none; the members Patroni lists \(BGC_PATRONI_URLS\) are reached directly already/);
  });
});
