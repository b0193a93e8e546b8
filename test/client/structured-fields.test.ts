/**
 * The RFC 9651 parser behind the IETF RateLimit fields: each bare item type, parameters,
 * inner lists, dictionaries, the RFC's limits, and malformed input, which must yield
 * `undefined` and never throw.
 */
import {
  type BareItem,
  type Item,
  parseDictionary,
  parseItem,
  parseList,
} from '../../packages/client/src/structured-fields';

const item = (text: string): BareItem | undefined => parseItem(text)?.value;

describe('bare items', () => {
  test.each([
    ['42', { type: 'integer', value: 42 }],
    ['-17', { type: 'integer', value: -17 }],
    ['0', { type: 'integer', value: 0 }],
    ['999999999999999', { type: 'integer', value: 999_999_999_999_999 }],
    ['4.5', { type: 'decimal', value: 4.5 }],
    ['-0.125', { type: 'decimal', value: -0.125 }],
    ['123456789012.123', { type: 'decimal', value: 123_456_789_012.123 }],
    ['"hello world"', { type: 'string', value: 'hello world' }],
    ['"say \\"hi\\" \\\\o/"', { type: 'string', value: 'say "hi" \\o/' }],
    ['""', { type: 'string', value: '' }],
    ['foo123/456', { type: 'token', value: 'foo123/456' }],
    ['*star:x', { type: 'token', value: '*star:x' }],
    ['Default', { type: 'token', value: 'Default' }],
    ['?1', { type: 'boolean', value: true }],
    ['?0', { type: 'boolean', value: false }],
    ['@1659578233', { type: 'date', value: 1_659_578_233 }],
    ['%"f%c3%bc%c3%bc"', { type: 'displaystring', value: 'füü' }],
  ])('%s', (text, expected) => {
    expect(item(text)).toEqual(expected);
  });

  test('byte sequences decode base64, with or without padding', () => {
    expect(item(':aGVsbG8=:')).toEqual({ type: 'binary', value: new TextEncoder().encode('hello') });
    expect(item(':aGVsbG8:')).toEqual({ type: 'binary', value: new TextEncoder().encode('hello') });
    expect(item('::')).toEqual({ type: 'binary', value: new Uint8Array() });
  });

  test.each([
    ['1234567890123456', 'an integer of 16 digits'],
    ['1234567890123.1', 'a decimal with 13 integer digits'],
    ['1.1234', 'a decimal with 4 fraction digits'],
    ['1.', 'a decimal with no fraction'],
    ['-', 'a lone minus'],
    ['- 1', 'a minus then a space'],
    ['"unterminated', 'an unterminated string'],
    ['"bad \\n escape"', 'an escape other than \\" or \\\\'],
    ['"tab\there"', 'a control character in a string'],
    ['"caf\u00e9"', 'a non-ASCII character in a string'],
    ['?2', 'a boolean other than ?0 or ?1'],
    ['@1.5', 'a decimal date'],
    [':not base64!:', 'invalid base64'],
    [':abc', 'an unterminated byte sequence'],
    ['%"F%C3%BC"', 'uppercase hex in a display string'],
    ['%"%ff"', 'invalid UTF-8 in a display string'],
    ['1 2', 'two items'],
    ['(1 2)', 'an inner list where an item is expected'],
    ['', 'nothing'],
    ['#x', 'a character no item starts with'],
  ])('%s is malformed (%s)', (text) => {
    expect(parseItem(text)).toBeUndefined();
  });
});

describe('parameters', () => {
  test('keys with and without values, in order; a repeated key keeps its last value', () => {
    const parsed = parseItem('"default";r=50;t=30;pk=:AQ==:;flag;r=7') as Item;
    expect([...parsed.params.keys()]).toEqual(['t', 'pk', 'flag', 'r']);
    expect(parsed.params.get('r')).toEqual({ type: 'integer', value: 7 });
    expect(parsed.params.get('flag')).toEqual({ type: 'boolean', value: true });
    expect(parsed.params.get('pk')).toEqual({ type: 'binary', value: Uint8Array.from([1]) });
  });

  test('spaces after ";" are allowed, before it are not', () => {
    expect(parseItem('1; a=2')?.params.get('a')).toEqual({ type: 'integer', value: 2 });
    expect(parseItem('1 ;a=2')).toBeUndefined();
  });

  test('keys must start with a lowercase letter or *', () => {
    expect(parseItem('1;*k=1')?.params.get('*k')).toEqual({ type: 'integer', value: 1 });
    expect(parseItem('1;A=1')).toBeUndefined();
    expect(parseItem('1;1a=1')).toBeUndefined();
    expect(parseItem('1;=1')).toBeUndefined();
  });
});

describe('lists', () => {
  test('members separated by commas and optional whitespace, including tabs', () => {
    const list = parseList('"burst";r=10;t=1,\t"daily";r=800;t=3600 ,  42');
    expect(list).toHaveLength(3);
    expect(list?.map((m) => (m.kind === 'item' ? m.value.value : undefined))).toEqual(['burst', 'daily', 42]);
  });

  test('commas inside strings do not split members', () => {
    const list = parseList('"a, b";q=1, c');
    expect(list?.map((m) => (m.kind === 'item' ? m.value.value : undefined))).toEqual(['a, b', 'c']);
  });

  test('inner lists with parameters', () => {
    const list = parseList('(1 "two" three);p=1, ()');
    expect(list?.[0]).toMatchObject({
      kind: 'inner-list',
      items: [{ value: { value: 1 } }, { value: { value: 'two' } }, { value: { value: 'three' } }],
    });
    expect(list?.[0]?.params.get('p')).toEqual({ type: 'integer', value: 1 });
    expect(list?.[1]).toMatchObject({ kind: 'inner-list', items: [] });
  });

  test('an empty field is an empty list; leading and trailing spaces are ignored', () => {
    expect(parseList('')).toEqual([]);
    expect(parseList('  1  ')).toHaveLength(1);
  });

  test.each(['1,', '1,,2', ',1', '1 2', '(1 2', '(1,2)', 'limit=100, remaining=50'])('%s is malformed', (text) => {
    expect(parseList(text)).toBeUndefined();
  });
});

describe('dictionaries', () => {
  test('the draft-7 RateLimit field', () => {
    const dictionary = parseDictionary('limit=100, remaining=50, reset=5');
    expect(dictionary?.get('remaining')).toMatchObject({ kind: 'item', value: { type: 'integer', value: 50 } });
    expect([...(dictionary?.keys() ?? [])]).toEqual(['limit', 'remaining', 'reset']);
  });

  test('a key without a value is true, with its parameters', () => {
    const dictionary = parseDictionary('a, b;x=1, c=(1 2)');
    expect(dictionary?.get('a')).toMatchObject({ value: { type: 'boolean', value: true } });
    expect(dictionary?.get('b')?.params.get('x')).toEqual({ type: 'integer', value: 1 });
    expect(dictionary?.get('c')?.kind).toBe('inner-list');
  });

  test('a repeated key keeps its last value, in its last position', () => {
    const dictionary = parseDictionary('a=1, b=2, a=3');
    expect([...(dictionary?.entries() ?? [])].map(([k, v]) => [k, v.kind === 'item' ? v.value.value : null])).toEqual([
      ['b', 2],
      ['a', 3],
    ]);
  });

  test.each(['A=1', 'a=1,', 'a=', '"a"=1', 'a=1 b=2'])('%s is malformed', (text) => {
    expect(parseDictionary(text)).toBeUndefined();
  });
});

test('arbitrary input never throws', () => {
  const alphabet = 'abcXYZ019"\\:;=,()?@%*-. \t/+é\u0000';
  let seed = 7;
  const random = () => {
    seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
    return seed / 2_147_483_648;
  };
  for (let i = 0; i < 5_000; i++) {
    let text = '';
    const length = Math.floor(random() * 24);
    for (let j = 0; j < length; j++) text += alphabet[Math.floor(random() * alphabet.length)];
    expect(() => {
      parseList(text);
      parseDictionary(text);
      parseItem(text);
    }).not.toThrow();
  }
});
