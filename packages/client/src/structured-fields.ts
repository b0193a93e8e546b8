/**
 * A parser for Structured Field Values (RFC 9651, which obsoletes RFC 8941): Lists,
 * Dictionaries and Items with Parameters, following the algorithms of section 4.2 step by
 * step. The IETF RateLimit fields are Structured Fields, and regexes over them go wrong
 * on quoted strings (`"a,b";r=1`), parameters in any order, and byte sequences.
 *
 * Every parser returns `undefined` on malformed input and never throws: the RFC says a
 * field that fails to parse is ignored as a whole (section 4.2), and a header is input
 * from the network.
 */

/** One bare item, tagged with its type so integers and decimals, strings and tokens stay apart. */
export type BareItem =
  | { readonly type: 'integer'; readonly value: number }
  | { readonly type: 'decimal'; readonly value: number }
  | { readonly type: 'string'; readonly value: string }
  | { readonly type: 'token'; readonly value: string }
  | { readonly type: 'binary'; readonly value: Uint8Array }
  | { readonly type: 'boolean'; readonly value: boolean }
  /** Seconds since the epoch (RFC 9651 section 3.3.7). */
  | { readonly type: 'date'; readonly value: number }
  | { readonly type: 'displaystring'; readonly value: string };

/** Parameters in order of first appearance; a repeated key keeps its last value (section 4.2.3.2). */
export type Parameters = ReadonlyMap<string, BareItem>;

export interface Item {
  readonly kind: 'item';
  readonly value: BareItem;
  readonly params: Parameters;
}

export interface InnerList {
  readonly kind: 'inner-list';
  readonly items: readonly Item[];
  readonly params: Parameters;
}

export type ListMember = Item | InnerList;

/** Thrown inside the parser only; the exported functions turn it into `undefined`. */
class Malformed {}
const MALFORMED = new Malformed();

class Parser {
  pos = 0;
  constructor(readonly input: string) {}

  get done(): boolean {
    return this.pos >= this.input.length;
  }

  peek(): string {
    return this.input.charAt(this.pos);
  }

  fail(): never {
    throw MALFORMED;
  }

  skipSP(): void {
    while (this.input.charCodeAt(this.pos) === 0x20) this.pos++;
  }

  /** OWS: spaces and horizontal tabs, allowed around the commas of lists and dictionaries. */
  skipOWS(): void {
    for (;;) {
      const code = this.input.charCodeAt(this.pos);
      if (code !== 0x20 && code !== 0x09) return;
      this.pos++;
    }
  }

  /** Section 4.2.1 steps after each member: OWS, then end or a comma followed by another member. */
  afterMember(): boolean {
    this.skipOWS();
    if (this.done) return false;
    if (this.input.charAt(this.pos++) !== ',') this.fail();
    this.skipOWS();
    if (this.done) this.fail(); // a trailing comma
    return true;
  }

  list(): ListMember[] {
    const members: ListMember[] = [];
    if (this.done) return members;
    do members.push(this.itemOrInnerList());
    while (this.afterMember());
    return members;
  }

  dictionary(): Map<string, ListMember> {
    const dictionary = new Map<string, ListMember>();
    if (this.done) return dictionary;
    do {
      const key = this.key();
      let member: ListMember;
      if (this.peek() === '=') {
        this.pos++;
        member = this.itemOrInnerList();
      } else {
        member = { kind: 'item', value: { type: 'boolean', value: true }, params: this.parameters() };
      }
      // Delete first so a repeated key moves to its last position, as an ordered map overwrite does.
      dictionary.delete(key);
      dictionary.set(key, member);
    } while (this.afterMember());
    return dictionary;
  }

  itemOrInnerList(): ListMember {
    return this.peek() === '(' ? this.innerList() : this.item();
  }

  innerList(): InnerList {
    this.pos++; // '('
    const items: Item[] = [];
    for (;;) {
      this.skipSP();
      if (this.done) this.fail();
      if (this.peek() === ')') {
        this.pos++;
        return { kind: 'inner-list', items, params: this.parameters() };
      }
      items.push(this.item());
      const next = this.peek();
      if (next !== ' ' && next !== ')') this.fail();
    }
  }

  item(): Item {
    const value = this.bareItem();
    return { kind: 'item', value, params: this.parameters() };
  }

  parameters(): Map<string, BareItem> {
    const params = new Map<string, BareItem>();
    while (this.peek() === ';') {
      this.pos++;
      this.skipSP();
      const key = this.key();
      let value: BareItem = { type: 'boolean', value: true };
      if (this.peek() === '=') {
        this.pos++;
        value = this.bareItem();
      }
      params.delete(key);
      params.set(key, value);
    }
    return params;
  }

  /** Section 4.2.3.3: lcalpha or "*", then lcalpha, DIGIT, "_", "-", ".", "*". */
  key(): string {
    const start = this.pos;
    const first = this.peek();
    if (!(isLcAlpha(first) || first === '*')) this.fail();
    this.pos++;
    while (!this.done) {
      const c = this.peek();
      if (!(isLcAlpha(c) || isDigit(c) || c === '_' || c === '-' || c === '.' || c === '*')) break;
      this.pos++;
    }
    return this.input.slice(start, this.pos);
  }

  bareItem(): BareItem {
    const c = this.peek();
    if (c === '-' || isDigit(c)) return this.number();
    if (c === '"') return this.string();
    if (c === '*' || isAlpha(c)) return this.token();
    if (c === ':') return this.binary();
    if (c === '?') return this.boolean();
    if (c === '@') return this.date();
    if (c === '%') return this.displayString();
    return this.fail();
  }

  /** Section 4.2.4: at most 15 integer digits, or 12 + "." + 1 to 3 fraction digits. */
  number(): BareItem {
    let sign = 1;
    if (this.peek() === '-') {
      sign = -1;
      this.pos++;
    }
    if (!isDigit(this.peek())) this.fail();
    const start = this.pos;
    let dot = -1;
    while (!this.done) {
      const c = this.peek();
      if (isDigit(c)) {
        this.pos++;
      } else if (c === '.' && dot === -1) {
        if (this.pos - start > 12) this.fail();
        dot = this.pos++;
      } else {
        break;
      }
      if (dot === -1 ? this.pos - start > 15 : this.pos - start > 16) this.fail();
    }
    const text = this.input.slice(start, this.pos);
    if (dot === -1) return { type: 'integer', value: sign * Number(text) };
    const fraction = this.pos - dot - 1;
    if (fraction < 1 || fraction > 3) this.fail();
    return { type: 'decimal', value: sign * Number(text) };
  }

  string(): BareItem {
    this.pos++; // '"'
    let value = '';
    while (!this.done) {
      const c = this.input.charAt(this.pos++);
      if (c === '\\') {
        const next = this.input.charAt(this.pos++);
        if (next !== '"' && next !== '\\') this.fail();
        value += next;
      } else if (c === '"') {
        return { type: 'string', value };
      } else {
        const code = c.charCodeAt(0);
        if (code < 0x20 || code > 0x7e) this.fail();
        value += c;
      }
    }
    return this.fail(); // no closing quote
  }

  token(): BareItem {
    const start = this.pos++;
    while (!this.done && isTokenChar(this.peek())) this.pos++;
    return { type: 'token', value: this.input.slice(start, this.pos) };
  }

  binary(): BareItem {
    this.pos++; // ':'
    const end = this.input.indexOf(':', this.pos);
    if (end === -1) this.fail();
    const text = this.input.slice(this.pos, end);
    this.pos = end + 1;
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text)) this.fail();
    return { type: 'binary', value: decodeBase64(text) };
  }

  boolean(): BareItem {
    this.pos++; // '?'
    const c = this.input.charAt(this.pos++);
    if (c === '1') return { type: 'boolean', value: true };
    if (c === '0') return { type: 'boolean', value: false };
    return this.fail();
  }

  /** Section 4.2.9: "@" followed by an Integer (a Decimal is malformed). */
  date(): BareItem {
    this.pos++; // '@'
    const number = this.number();
    if (number.type !== 'integer') this.fail();
    return { type: 'date', value: number.value };
  }

  /** Section 4.2.10: `%"` ... `"`, non-ASCII as lowercase `%xx` UTF-8 octets. */
  displayString(): BareItem {
    this.pos++; // '%'
    if (this.input.charAt(this.pos++) !== '"') this.fail();
    const bytes: number[] = [];
    while (!this.done) {
      const c = this.input.charAt(this.pos++);
      const code = c.charCodeAt(0);
      if (code < 0x20 || code > 0x7e) this.fail();
      if (c === '%') {
        const hex = this.input.slice(this.pos, this.pos + 2);
        if (!/^[0-9a-f]{2}$/.test(hex)) this.fail();
        bytes.push(Number.parseInt(hex, 16));
        this.pos += 2;
      } else if (c === '"') {
        try {
          return {
            type: 'displaystring',
            value: new TextDecoder('utf-8', { fatal: true }).decode(Uint8Array.from(bytes)),
          };
        } catch {
          return this.fail();
        }
      } else {
        bytes.push(code);
      }
    }
    return this.fail();
  }
}

function isDigit(c: string): boolean {
  return c >= '0' && c <= '9' && c.length === 1;
}

function isLcAlpha(c: string): boolean {
  return c >= 'a' && c <= 'z' && c.length === 1;
}

function isAlpha(c: string): boolean {
  return c.length === 1 && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'));
}

/** tchar (RFC 9110 section 5.6.2) plus ":" and "/", which sf-token allows. */
function isTokenChar(c: string): boolean {
  return c.length === 1 && (isAlpha(c) || isDigit(c) || "!#$%&'*+-.^_`|~:/".includes(c));
}

/** atob exists in browsers and Node 16+; Buffer does not exist in browsers. */
function decodeBase64(text: string): Uint8Array {
  let binary: string;
  try {
    binary = atob(text);
  } catch {
    throw MALFORMED;
  }
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

function run<T>(input: string, parse: (parser: Parser) => T): T | undefined {
  const parser = new Parser(input);
  try {
    // Section 4.2: leading and trailing SP are discarded (HTTP also strips OWS around a field value).
    parser.skipSP();
    const value = parse(parser);
    parser.skipSP();
    return parser.done ? value : undefined;
  } catch (error) {
    if (error === MALFORMED) return undefined;
    throw error;
  }
}

/** Parses a List field (section 4.2.1). An empty field is an empty list. `undefined` when malformed. */
export function parseList(input: string): ListMember[] | undefined {
  return run(input, (parser) => parser.list());
}

/** Parses a Dictionary field (section 4.2.2). `undefined` when malformed. */
export function parseDictionary(input: string): Map<string, ListMember> | undefined {
  return run(input, (parser) => parser.dictionary());
}

/** Parses an Item field (section 4.2.3). `undefined` when malformed or empty. */
export function parseItem(input: string): Item | undefined {
  return run(input, (parser) => parser.item());
}

/** The value of an integer bare item, else `undefined`. */
export function integerOf(item: BareItem | undefined): number | undefined {
  return item?.type === 'integer' ? item.value : undefined;
}
