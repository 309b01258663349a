import fs from 'node:fs';
import net from 'node:net';

/**
 * A free TCP port on 127.0.0.1 for a private server (a bench's API server, a test's private
 * stack), chosen below the kernel's range for outgoing connections.
 *
 * Why not `listen(0)`: it hands out a port from that very range (ip_local_port_range,
 * 32768–60999 by default), and a busy test run opens thousands of outgoing connections. Between
 * the check and the server's start, one of them can take the port as its local port and the
 * server cannot bind (a CI run lost a private Redis that way). Ports below the range are never
 * taken by outgoing connections, so the only race left is with another private server picking
 * the same port, which a random pick over ten thousand ports makes negligible.
 */
const SPAN = 10_000;
const FLOOR = 10_000;
const ATTEMPTS = 50;

/** Ports handed out by this process, so one process never gets the same port twice. */
const handedOut = new Set<number>();

function ephemeralLow(): number {
  try {
    const [low] = fs.readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    return low !== undefined && Number.isInteger(low) ? low : 32768;
  } catch {
    return 32768; // not Linux: the IANA range starts at 49152, Linux's default at 32768
  }
}

function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen({ port, host: '127.0.0.1', exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

function kernelChosen(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = addr && typeof addr === 'object' ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export async function freePort(): Promise<number> {
  const high = ephemeralLow() - 1;
  const low = Math.max(FLOOR, high - SPAN);
  if (high - low >= 1000) {
    for (let i = 0; i < ATTEMPTS; i++) {
      const port = low + Math.floor(Math.random() * (high - low + 1));
      if (handedOut.has(port)) continue;
      if (await bindable(port)) { handedOut.add(port); return port; }
    }
  }
  // The ephemeral range starts too low to leave room below it (or every pick was taken):
  // the kernel's choice, with the race described above.
  return kernelChosen();
}
