/**
 * The Redis Cluster hash slot of a key whose hash tag is `tag` (CRC16/XMODEM of the tag,
 * modulo 16384: https://redis.io/docs/latest/operate/oss_and_stack/reference/cluster-spec/#key-distribution-model).
 * Every tierlimit key of one identity has the identity as its tag (keys.ts), so the store
 * can tell which node will run a decision, and use that node's clock offset for its
 * deadline (clock-offset.ts), without asking ioredis.
 */

const TABLE = new Uint16Array(256);
for (let i = 0; i < 256; i++) {
  let crc = i << 8;
  for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  TABLE[i] = crc;
}

/** The slot of any key tagged `{tag}` (`tag` non-empty). */
export function slotOfTag(tag: string): number {
  let crc = 0;
  for (const byte of Buffer.from(tag, 'utf8'))
    crc = ((crc << 8) & 0xffff) ^ (TABLE[((crc >> 8) ^ byte) & 0xff] as number);
  return crc & 0x3fff;
}
