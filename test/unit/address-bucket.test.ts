import { describe, expect, it } from 'vitest';
import { addressBucket } from '../../src/cache/address-bucket.ts';

describe('the unit a per-address login limit counts', () => {
  it('is an IPv4 address as it is, also when written as IPv4-mapped IPv6', () => {
    expect(addressBucket('10.1.2.3')).toBe('10.1.2.3');
    expect(addressBucket('::ffff:10.1.2.3')).toBe('10.1.2.3');
    expect(addressBucket('::FFFF:10.1.2.3')).toBe('10.1.2.3');
  });

  it("is an IPv6 address's /64, however it is written (before: each of a client's 2^64 addresses counted apart)", () => {
    const one = addressBucket('2001:db8:0:1::1');
    expect(one).toBe('2001:db8:0:1::/64');
    for (const other of ['2001:db8:0:1::64', '2001:0DB8:0000:0001:ffff:ffff:ffff:ffff', '2001:db8:0:1:1:2:3:4', '2001:db8:0:1::5%eth0']) {
      expect(addressBucket(other), other).toBe(one);
    }
    expect(addressBucket('2001:db8:0:2::1')).not.toBe(one);
    expect(addressBucket('::1')).toBe('0:0:0:0::/64');
    expect(addressBucket('fe80::1.2.3.4')).toBe('fe80:0:0:0::/64');
    expect(addressBucket('2001:db8::')).toBe('2001:db8:0:0::/64');
  });

  it('passes anything that is no IP address through', () => {
    expect(addressBucket('')).toBe('');
    expect(addressBucket('unix')).toBe('unix');
  });
});
