import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it, expect, afterAll } from 'vitest';
import { parseConfig, ConfigError } from '../../src/config/index.ts';
import { isRoot } from '../../src/tools/stack/exec.ts';
import { pgDataRoot, SHARED_PG_PARENT } from '../../src/tools/stack/pg-location.ts';
import { StackPortBusyError, waysOut } from '../../src/tools/stack/preflight.ts';

describe('BGC_STACK_PORT_OFFSET', () => {
  it('defaults to DESIGN §2 ports', () => {
    const c = parseConfig({});
    expect(c.stack).toEqual({ portOffset: 0, primaryPort: 54320, replicaPorts: [54321, 54322], redisPort: 63790, pgbouncerPorts: [64320, 64321, 64322] });
    expect(c.http.port).toBe(3000);
    expect(c.http.adminPort).toBe(3001);
  });

  it('moves every local default: stack ports, their URLs, the app ports and Alertmanager', () => {
    const c = parseConfig({ BGC_STACK_PORT_OFFSET: '100' });
    expect(c.stack).toEqual({ portOffset: 100, primaryPort: 54420, replicaPorts: [54421, 54422], redisPort: 63890, pgbouncerPorts: [64420, 64421, 64422] });
    expect(c.database.primaryUrl).toBe('postgres://postgres@127.0.0.1:54420/bgc');
    expect(c.database.replicaUrls).toEqual(['postgres://postgres@127.0.0.1:54421/bgc', 'postgres://postgres@127.0.0.1:54422/bgc']);
    expect(c.redis.url).toBe('redis://127.0.0.1:63890');
    expect([c.http.port, c.http.adminPort]).toEqual([3100, 3101]);
    expect(c.history.alertmanagerUrl).toBe('http://127.0.0.1:9193');
  });

  it('never overrides what is set explicitly', () => {
    const c = parseConfig({ BGC_STACK_PORT_OFFSET: '100', PORT: '8080', ADMIN_PORT: '0', REDIS_URL: 'redis://cache:6379' });
    expect([c.http.port, c.http.adminPort]).toEqual([8080, 0]);
    expect(c.redis.url).toBe('redis://cache:6379');
  });

  it('refuses values outside 0-1000, naming the variable', () => {
    for (const bad of ['-1', '1001', 'ten', '1.5']) {
      expect(() => parseConfig({ BGC_STACK_PORT_OFFSET: bad }), bad).toThrow(ConfigError);
      expect(() => parseConfig({ BGC_STACK_PORT_OFFSET: bad }), bad).toThrow(/BGC_STACK_PORT_OFFSET/);
    }
  });
});

describe('where PostgreSQL data lives', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bgc-pgroot-'));
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('one folder per data folder, the same for two spellings of one path', () => {
    const a = pgDataRoot(path.join(tmp, 'a'));
    expect(pgDataRoot(path.join(tmp, 'x', '..', 'a'))).toBe(a);
    expect(pgDataRoot(path.join(tmp, 'b'))).not.toBe(a);
    if (isRoot()) expect(path.dirname(a)).toBe(SHARED_PG_PARENT);
    else expect(a).toBe(path.join(tmp, 'a', 'pg'));
  });

  it('a cluster already inside the data folder stays there', () => {
    const dataDir = path.join(tmp, 'legacy');
    fs.mkdirSync(path.join(dataDir, 'pg', 'primary'), { recursive: true });
    fs.writeFileSync(path.join(dataDir, 'pg', 'primary', 'PG_VERSION'), '15\n');
    expect(pgDataRoot(dataDir)).toBe(path.join(dataDir, 'pg'));
  });
});

describe('the preflight message', () => {
  it('names each port, its holder and the two ways out', () => {
    const busy = [{ port: 54320, name: 'primary', pid: 42, detail: 'in use by pid 42 (node holder.js)' }];
    const err = new StackPortBusyError(busy, waysOut(busy, { offset: 100, ports: [54420, 54421, 54422, 63890] }));
    expect(err.code).toBe('STACK_PORT_BUSY');
    expect(err.message).toBe([
      'nothing was started: a port this stack needs is taken',
      '  - port 54320 (primary): in use by pid 42 (node holder.js)',
      'Two ways out:',
      "  1. stop that process (kill 42); if it is another checkout's stack, run `npx bgc stack down` in that checkout, or",
      '  2. move this stack: e.g. BGC_STACK_PORT_OFFSET=100 npm start (its ports 54420, 54421, 54422, 63890 are free now).',
    ].join('\n'));
  });
});
