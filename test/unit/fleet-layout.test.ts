import { describe, expect, it } from 'vitest';
import { buildFleetLayout, MAX_INSTANCES } from '../../src/tools/stack/fleet/layout.ts';

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
