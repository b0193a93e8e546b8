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
 * form (`2001:db8:0:100::/56`). `undefined` when `address` is not an IP address. The
 * host-and-port forms a proxy may write (`203.0.113.7:51234`, `[2001:db8::1]:443`,
 * `[2001:db8::1]`) are read as their address.
 */
export function ipIdentity(address: string | undefined, ipv6PrefixLength: number): string | undefined {
  if (address === undefined || address.length === 0 || address.length > 64) return undefined;
  if (address.indexOf(':') === -1) return isCanonicalIPv4(address, 0, address.length) ? address : undefined;
  let groups = parseIPv6(address);
  if (groups === undefined) {
    // Some load balancers append the client's port (`203.0.113.7:51234`, `[2001:db8::1]:443`)
    // and frameworks then report that string as the address (SPEC section 6).
    const host = withoutPort(address);
    if (host === address) return undefined;
    if (host.indexOf(':') === -1) return isCanonicalIPv4(host, 0, host.length) ? host : undefined;
    groups = parseIPv6(host);
    if (groups === undefined) return undefined;
  }
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

/**
 * The address of a host-and-port string: `203.0.113.7:51234` and `[2001:db8::1]:443` (or
 * `[2001:db8::1]`) lose the port and brackets; anything else is returned unchanged (an
 * unbracketed IPv6 address cannot carry a port: `2001:db8::1:443` is an address).
 */
export function withoutPort(text: string): string {
  if (text.charCodeAt(0) === 91 /* [ */) {
    const close = text.indexOf(']');
    if (close < 0) return text;
    const rest = text.slice(close + 1);
    return rest === '' || /^:\d{1,5}$/.test(rest) ? text.slice(1, close) : text;
  }
  const colon = text.indexOf(':');
  if (
    colon > 0 &&
    colon === text.lastIndexOf(':') &&
    text.indexOf('.') !== -1 &&
    /^\d{1,5}$/.test(text.slice(colon + 1))
  )
    return text.slice(0, colon);
  return text;
}

/** An address as eight 16-bit groups (IPv4 as IPv4-mapped IPv6), or `undefined`; ports are stripped. */
function addressGroups(text: string): Uint16Array | undefined {
  const host = withoutPort(text.trim());
  if (host.indexOf(':') === -1) {
    if (!isCanonicalIPv4(host, 0, host.length)) return undefined;
    const [a, b, c, d] = host.split('.').map(Number) as [number, number, number, number];
    return Uint16Array.of(0, 0, 0, 0, 0, 0xffff, (a << 8) | b, (c << 8) | d);
  }
  return parseIPv6(host);
}

/** Named ranges, as Express's `trust proxy` (proxy-addr) names them. */
const PRESETS: Readonly<Record<string, readonly string[]>> = {
  loopback: ['127.0.0.0/8', '::1/128'],
  linklocal: ['169.254.0.0/16', 'fe80::/10'],
  uniquelocal: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', 'fc00::/7'],
};

interface Range {
  readonly groups: Uint16Array;
  readonly bits: number;
}

function parseRange(entry: string): Range | undefined {
  const slash = entry.indexOf('/');
  const text = slash < 0 ? entry : entry.slice(0, slash);
  const groups = addressGroups(text);
  if (groups === undefined || text.includes('[') || withoutPort(text) !== text) return undefined;
  const ipv4 = text.indexOf(':') === -1;
  const max = ipv4 ? 32 : 128;
  if (slash < 0) return { groups, bits: 128 };
  const suffix = entry.slice(slash + 1);
  if (!/^\d{1,3}$/.test(suffix) || Number(suffix) > max) return undefined;
  return { groups, bits: Number(suffix) + (ipv4 ? 96 : 0) };
}

function inRange(groups: Uint16Array, range: Range): boolean {
  let bits = range.bits;
  for (let i = 0; i < 8 && bits > 0; i++, bits -= 16) {
    const mask = bits >= 16 ? 0xffff : (0xffff << (16 - bits)) & 0xffff;
    if (((groups[i] as number) & mask) !== ((range.groups[i] as number) & mask)) return false;
  }
  return true;
}

/**
 * Compiles a list of trusted proxies: addresses, CIDR ranges (`10.0.0.0/8`, `fd00::/8`) and
 * the presets `loopback`, `linklocal`, `uniquelocal`. Returns the test, or the first entry
 * that is none of those (for the configuration error).
 */
export function compileTrustedProxies(
  entries: readonly string[],
): { readonly trusted: (address: string) => boolean } | { readonly invalid: string } {
  const ranges: Range[] = [];
  for (const entry of entries) {
    const preset = typeof entry === 'string' ? PRESETS[entry] : undefined;
    for (const text of preset ?? [entry]) {
      const range = typeof text === 'string' ? parseRange(text) : undefined;
      if (range === undefined) return { invalid: String(entry) };
      ranges.push(range);
    }
  }
  return {
    trusted: (address) => {
      const groups = addressGroups(address);
      if (groups === undefined) return false;
      for (const range of ranges) if (inRange(groups, range)) return true;
      return false;
    },
  };
}

/**
 * The client's address behind trusted proxies: starting from the socket peer, each address
 * that is a trusted proxy hands over to the X-Forwarded-For entry before it, walking right
 * to left; the first address that is not a trusted proxy is the client. Only proxies that
 * are trusted by address can vouch for the entry they appended, so a client that connects
 * directly (not through the proxy) cannot choose its address. Entries may carry a port.
 *
 * Written here rather than taken from proxy-addr (which Express uses) because proxy-addr
 * cannot read the host-and-port entries some load balancers write, and it would stop the
 * walk at such an entry and report it as the client.
 */
export function forwardedClient(
  peer: string | undefined,
  forwardedFor: string | readonly string[] | undefined,
  trusted: (address: string) => boolean,
): string | undefined {
  if (peer === undefined || !trusted(peer) || forwardedFor === undefined) return peer;
  const hops = (typeof forwardedFor === 'string' ? forwardedFor : forwardedFor.join(',')).split(',');
  let client = peer;
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = (hops[i] as string).trim();
    if (hop.length === 0) continue;
    client = hop;
    if (!trusted(hop)) return hop;
  }
  return client;
}
