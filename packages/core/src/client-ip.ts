/**
 * Client identity for the per-IP policy. The address comes from the framework's own
 * trust-proxy logic (Express `req.ip`, Koa `ctx.ip`, Fastify `request.ip`): this module
 * never reads X-Forwarded-For itself (SPEC section 3).
 *
 * - IPv4-mapped IPv6 (`::ffff:0:0/96`, in any spelling) is folded to IPv4 by checking the
 *   address bits, not a string prefix: express-rate-limit once masked such addresses as
 *   IPv6 and put every IPv4 client of a dual-stack server in one bucket (SPEC section 6).
 * - Other IPv6 addresses are grouped by prefix (/56 by default) so a client rotating
 *   through the addresses of its own subnet does not multiply its quota.
 */

/**
 * The per-IP identity for `address`: a canonical IPv4 address, or the IPv6 prefix in CIDR
 * form (`2001:db8:0:100::/56`). `undefined` when `address` is not an IP address.
 */
export function ipIdentity(address: string | undefined, ipv6PrefixLength: number): string | undefined {
  if (address === undefined || address.length === 0 || address.length > 64) return undefined;
  if (address.indexOf(':') === -1) return isCanonicalIPv4(address, 0, address.length) ? address : undefined;
  const groups = parseIPv6(address);
  if (groups === undefined) return undefined;
  if (isIPv4Mapped(groups)) {
    const high = groups[6] as number;
    const low = groups[7] as number;
    return `${high >> 8}.${high & 0xff}.${low >> 8}.${low & 0xff}`;
  }
  return ipv6Prefix(groups, ipv6PrefixLength);
}

function isIPv4Mapped(groups: Uint16Array): boolean {
  return (
    groups[0] === 0 && groups[1] === 0 && groups[2] === 0 && groups[3] === 0 && groups[4] === 0 && groups[5] === 0xffff
  );
}

function ipv6Prefix(groups: Uint16Array, bits: number): string {
  const whole = Math.ceil(bits / 16);
  const parts: string[] = [];
  for (let i = 0; i < whole; i++) {
    const keep = Math.min(16, bits - i * 16);
    const mask = (0xffff << (16 - keep)) & 0xffff;
    parts.push(((groups[i] as number) & mask).toString(16));
  }
  return `${parts.join(':')}${whole < 8 ? '::' : ''}/${bits}`;
}

/** Dotted quad with no leading zeros (so "010.0.0.1" cannot mean two things), each octet 0-255. */
function isCanonicalIPv4(text: string, start: number, end: number): boolean {
  let dots = 0;
  let digits = 0;
  let octet = 0;
  for (let i = start; i < end; i++) {
    const code = text.charCodeAt(i);
    if (code === 46 /* . */) {
      if (digits === 0 || ++dots > 3) return false;
      digits = 0;
      octet = 0;
    } else if (code >= 48 && code <= 57) {
      if (digits > 0 && octet === 0) return false;
      octet = octet * 10 + (code - 48);
      if (++digits > 3 || octet > 255) return false;
    } else {
      return false;
    }
  }
  return dots === 3 && digits > 0;
}

/** Parses an IPv6 address (with optional zone and dotted IPv4 tail) into eight 16-bit groups. */
export function parseIPv6(address: string): Uint16Array | undefined {
  const zone = address.indexOf('%');
  const text = zone === -1 ? address : address.slice(0, zone);
  const gap = text.indexOf('::');
  if (gap !== -1 && text.indexOf('::', gap + 1) !== -1) return undefined;
  const head = gap === -1 ? text : text.slice(0, gap);
  const tail = gap === -1 ? '' : text.slice(gap + 2);
  const headGroups = parseGroups(head, gap === -1);
  const tailGroups = gap === -1 ? [] : parseGroups(tail, true);
  if (headGroups === undefined || tailGroups === undefined) return undefined;
  const total = headGroups.length + tailGroups.length;
  if (gap === -1 ? total !== 8 : total > 7) return undefined;
  const groups = new Uint16Array(8);
  groups.set(headGroups, 0);
  groups.set(tailGroups, 8 - tailGroups.length);
  return groups;
}

/** Colon-separated hex groups; the last may be a dotted IPv4 address when `ipv4Tail` allows. */
function parseGroups(text: string, ipv4Tail: boolean): number[] | undefined {
  if (text.length === 0) return [];
  const parts = text.split(':');
  const groups: number[] = [];
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i] as string;
    if (ipv4Tail && i === parts.length - 1 && part.indexOf('.') !== -1) {
      if (!isCanonicalIPv4(part, 0, part.length)) return undefined;
      const [a, b, c, d] = part.split('.').map(Number) as [number, number, number, number];
      groups.push((a << 8) | b, (c << 8) | d);
      continue;
    }
    if (!/^[0-9a-fA-F]{1,4}$/.test(part)) return undefined;
    groups.push(Number.parseInt(part, 16));
  }
  return groups;
}
