/** The importer's progress line and its ETA, from counters alone. */
import { estimateRemainingMs, formatDuration, formatProgress } from '../../packages/client/src/cli-progress';

const base = { pulled: 0, sent: 0, duplicates: 0, failed: 0, retried: 0, rateLimited: 0, elapsedMs: 0 };

test('durations', () => {
  expect([formatDuration(0), formatDuration(12_400), formatDuration(102_000), formatDuration(11_100_000)]).toEqual([
    '0s',
    '12s',
    '1m42s',
    '3h05m',
  ]);
});

test('the ETA extrapolates lines from the share of the file read, and time from the rate so far', () => {
  // A quarter of the file read holds 1,000 lines, so about 4,000 in all; 500 done in 10 s.
  const snapshot = {
    ...base,
    pulled: 1_000,
    sent: 480,
    failed: 20,
    elapsedMs: 10_000,
    bytesRead: 25_000,
    totalBytes: 100_000,
  };
  expect(estimateRemainingMs(snapshot)).toBe(70_000);
  expect(formatProgress(snapshot)).toBe('500 events (25% read) · 50 ev/s · ETA 1m10s · 429s 0 · failed 20');
});

test('no ETA without a known size (stdin) or before anything is done', () => {
  expect(
    estimateRemainingMs({ ...base, sent: 10, pulled: 10, elapsedMs: 1_000, bytesRead: 100, totalBytes: undefined }),
  ).toBeUndefined();
  expect(
    estimateRemainingMs({ ...base, pulled: 10, elapsedMs: 1_000, bytesRead: 100, totalBytes: 1_000 }),
  ).toBeUndefined();
  expect(formatProgress({ ...base, rateLimited: 3, bytesRead: 0, totalBytes: undefined })).toBe(
    '0 events · 0 ev/s · 429s 3 · failed 0',
  );
});
