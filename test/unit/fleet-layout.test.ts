import { describe, expect, it } from 'vitest';
import { buildFleetLayout, MAX_INSTANCES } from '../../src/tools/stack/fleet/layout.ts';
import { clientConnectionLimit, fleetHaproxyConfig, REQUEST_LOG_FORMAT } from '../../src/tools/stack/fleet/haproxy-config.ts';

describe('fleet port layout (bgc stack up --instances N)', () => {
  it('gives every instance its own API and admin port, all inside the offset step, instances from PORT+10', () => {
    for (const apiPort of [3000, 3200]) {
      const layout = buildFleetLayout('/tmp/x', { count: MAX_INSTANCES, apiPort });
      const ports = [apiPort, apiPort + 1, layout.statsPort, ...layout.instances.flatMap((i) => [i.port, i.adminPort])];
      expect(new Set(ports).size, `repeated port in ${ports.join(',')}`).toBe(ports.length);
      for (const p of ports) expect(p >= apiPort && p < apiPort + 100, `${p} outside ${apiPort}..${apiPort + 99}`).toBe(true);
      expect(layout.instances[0]?.port).toBe(apiPort + 10);
    }
  });
});

describe('HAProxy admission (src/tools/stack/fleet/haproxy-config.ts)', () => {
  const layout = buildFleetLayout('/tmp/x', { count: 3, apiPort: 3000, admission: { instanceMaxconn: 7, queuePerInstance: 5, queueTimeoutMs: 300 } });
  const cfg = fleetHaproxyConfig(layout, { descriptorLimit: 20_000 });

  it('caps each instance at maxconn and refuses at the proxy when the queue holds queuePerInstance × instances', () => {
    for (const i of layout.instances) expect(cfg).toContain(`server ${i.name} 127.0.0.1:${i.port} check maxconn 7`);
    expect(cfg).toMatch(/http-request return status 503 .*'\{"error":\{"code":"OVERLOADED".*hdr Retry-After \d+ .*if !probe !realtime \{ queue\(instances\) ge 15 \}/);
    expect(cfg).toContain('timeout queue 300ms');
    expect(cfg).toContain('option http-buffer-request');
    // HAProxy's own 503s (queue timeout, no instance up) carry the API's error shape too.
    expect(cfg).toMatch(/http-error status 503 .*"code":"OVERLOADED"/);
  });

  it('sends /api/realtime to a backend without maxconn that tracks the same instances', () => {
    expect(cfg).toContain('use_backend realtime if realtime');
    const realtime = cfg.slice(cfg.indexOf('\nbackend realtime'));
    for (const i of layout.instances) expect(realtime).toContain(`server ${i.name} 127.0.0.1:${i.port} track instances/${i.name}`);
    expect(realtime).not.toContain('maxconn');
  });

  it('logs each request only when the layout asks (the bench), never for `bgc stack up --instances`', () => {
    expect(cfg).not.toContain('log-format');
    expect(cfg).not.toContain('log stdout');
    const logged = fleetHaproxyConfig(buildFleetLayout('/tmp/x', { count: 1, apiPort: 3000, requestLog: true }), { descriptorLimit: 20_000 });
    expect(logged).toContain('log stdout format raw local0');
    expect(logged).toContain(`log-format "${REQUEST_LOG_FORMAT}"`);
  });

  it('quotes the stats socket path, so a checkout path with a space stays one argument', () => {
    const spaced = fleetHaproxyConfig(buildFleetLayout('/tmp/my checkout/.data', { count: 1, apiPort: 3000 }), { descriptorLimit: 20_000 });
    expect(spaced).toContain('stats socket "/tmp/my checkout/.data/');
  });

  it('holds 10,000 clients under a 20,000-descriptor limit (HAProxy alone would take 9,984) and keeps 40% for the server side', () => {
    expect(cfg).toContain('maxconn 12000');
    expect(cfg).toContain('ulimit-n 20000');
    // Without it HAProxy refuses to start with maxconn above half the limit.
    expect(cfg).toContain('no strict-limits');
    expect(clientConnectionLimit(1_024)).toBe(614);
    expect(clientConnectionLimit(1_048_576)).toBe(100_000);
  });
});
