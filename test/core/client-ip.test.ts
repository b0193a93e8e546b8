import { ipIdentity } from '@tierlimit/core';

describe('ipIdentity', () => {
  test.each([
    ['203.0.113.9', '203.0.113.9'],
    ['0.0.0.0', '0.0.0.0'],
    ['255.255.255.255', '255.255.255.255'],
  ])('IPv4 %s is its own identity', (address, identity) => {
    expect(ipIdentity(address, 56)).toBe(identity);
  });

  test.each([
    '::ffff:198.51.100.7',
    '::FFFF:198.51.100.7',
    '::ffff:c633:6407',
    '0:0:0:0:0:ffff:c633:6407',
    '0000:0000:0000:0000:0000:FFFF:198.51.100.7',
  ])('IPv4-mapped %s folds to IPv4 by address range', (address) => {
    expect(ipIdentity(address, 56)).toBe('198.51.100.7');
  });

  test('distinct IPv4 clients of a dual-stack server stay distinct', () => {
    expect(ipIdentity('::ffff:198.51.100.7', 56)).not.toBe(ipIdentity('::ffff:198.51.100.8', 56));
  });

  test.each([
    ['2001:db8:0:1::1', 56, '2001:db8:0:0::/56'],
    ['2001:db8:0:ff:ffff:ffff:ffff:ffff', 56, '2001:db8:0:0::/56'],
    ['2001:db8:0:100::1', 56, '2001:db8:0:100::/56'],
    ['2001:db8:aa:bbcc::1', 64, '2001:db8:aa:bbcc::/64'],
    ['2001:db8:aa:bbcc::1', 48, '2001:db8:aa::/48'],
    ['2001:db8::1', 128, '2001:db8:0:0:0:0:0:1/128'],
    ['fe80::1%eth0', 64, 'fe80:0:0:0::/64'],
    ['::1', 56, '0:0:0:0::/56'],
    ['64:ff9b::198.51.100.7', 96, '64:ff9b:0:0:0:0::/96'],
  ])('IPv6 %s with /%i groups as %s', (address, bits, identity) => {
    expect(ipIdentity(address, bits)).toBe(identity);
  });

  test.each([
    undefined,
    '',
    'localhost',
    '256.1.1.1',
    '1.2.3',
    '1.2.3.4.5',
    '01.2.3.4',
    '1.2.3.4 ',
    '1:2:3:4:5:6:7:8:9',
    '1::2::3',
    ':::1',
    ':1',
    'gggg::1',
    '12345::1',
    '::ffff:1.2.3.256',
    'a'.repeat(100),
  ])('%p is not an address', (address) => {
    expect(ipIdentity(address, 56)).toBeUndefined();
  });
});
