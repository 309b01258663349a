import net from 'node:net';

/**
 * The unit a per-address limit counts: an IPv4 address as it is (an IPv4-mapped IPv6 one as
 * its IPv4 form), an IPv6 address by its /64. One subscriber, host or container is usually
 * handed a whole /64, so counting each of its 2^64 addresses apart let one client spread a
 * password spray over as many counters as it liked. Anything else (a unix socket's empty
 * address) is counted as given.
 */
export function addressBucket(ip: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (mapped?.[1] !== undefined) return mapped[1];
  if (!net.isIPv6(ip)) return ip;
  const [head = '', tail = ''] = ip.split('%')[0]!.toLowerCase().split('::') as [string, string?];
  const left = head === '' ? [] : head.split(':');
  const right = ip.includes('::') && tail !== '' ? tail.split(':') : [];
  // An embedded IPv4 tail (::1.2.3.4) is the last 32 bits, after the /64: it never reaches the prefix.
  const groups = ip.includes('::') ? [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right] : left;
  return `${groups.slice(0, 4).map((g) => Number.parseInt(g, 16).toString(16)).join(':')}::/64`;
}
