/**
 * The importer's progress line and final report, as pure functions of counters, so they
 * are tested without a terminal.
 *
 * The total for the ETA comes from the file size, not a line count: counting lines first
 * would read a multi-gigabyte file twice before sending anything. Bytes of the lines read
 * so far, against the file size, estimate the share done; the lines read lead the lines
 * settled by at most `concurrency + 2` batches, which is noise on a file worth an ETA.
 */
import type { BulkImportProgress, BulkImportReport } from './bulk-import.js';

/** What the progress line is computed from. */
export interface ProgressSnapshot extends BulkImportProgress {
  /** Bytes of input consumed so far (lines read, with their newline). */
  readonly bytesRead: number;
  /** Size of the input in bytes, when known (a file; not stdin). */
  readonly totalBytes: number | undefined;
}

const number = new Intl.NumberFormat('en-US');

/** `1m42s`, `3h05m`, `12s`. */
export function formatDuration(ms: number): string {
  const seconds = Math.max(0, Math.round(ms / 1000));
  if (seconds < 60) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes}m${String(seconds % 60).padStart(2, '0')}s`;
  return `${Math.floor(minutes / 60)}h${String(minutes % 60).padStart(2, '0')}m`;
}

/** Estimated ms left, or `undefined` when there is not enough to go on. */
export function estimateRemainingMs(snapshot: ProgressSnapshot): number | undefined {
  const { bytesRead, totalBytes, pulled, sent, failed, elapsedMs } = snapshot;
  const done = sent + failed;
  if (totalBytes === undefined || totalBytes === 0 || bytesRead === 0 || done === 0 || elapsedMs <= 0) return undefined;
  const estimatedTotal = (pulled * totalBytes) / Math.min(bytesRead, totalBytes);
  return (Math.max(0, estimatedTotal - done) / done) * elapsedMs;
}

/** One progress line: `12,000 events (24%) · 850 ev/s · ETA 1m02s · 429s 3 · failed 0`. */
export function formatProgress(snapshot: ProgressSnapshot): string {
  const done = snapshot.sent + snapshot.failed;
  const rate = snapshot.elapsedMs > 0 ? (done * 1000) / snapshot.elapsedMs : 0;
  const parts = [`${number.format(done)} events`];
  if (snapshot.totalBytes !== undefined && snapshot.totalBytes > 0) {
    parts[0] += ` (${Math.min(100, Math.floor((snapshot.bytesRead / snapshot.totalBytes) * 100))}% read)`;
  }
  parts.push(`${number.format(Math.round(rate))} ev/s`);
  const eta = estimateRemainingMs(snapshot);
  if (eta !== undefined) parts.push(`ETA ${formatDuration(eta)}`);
  parts.push(`429s ${number.format(snapshot.rateLimited)}`, `failed ${number.format(snapshot.failed)}`);
  return parts.join(' · ');
}

/** A short name for an error, for grouping failures: the error's `code`, else its class name. */
export function errorLabel(error: unknown): string {
  if (typeof error === 'object' && error !== null) {
    const { code, name } = error as { code?: unknown; name?: unknown };
    if (typeof code === 'string') return code;
    if (typeof name === 'string') return name;
  }
  return String(error);
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The human-readable final report, several lines. */
export function formatReport(
  report: BulkImportReport,
  extra: { readonly failedPath?: string | undefined; readonly interrupted: boolean; readonly unread: number },
): string {
  const lines = [
    `${extra.interrupted ? 'Stopped' : 'Done'} in ${formatDuration(report.durationMs)}.`,
    `  sent       ${number.format(report.sent)}${report.duplicates > 0 ? ` (${number.format(report.duplicates)} already stored)` : ''}`,
    `  failed     ${number.format(report.failed.length)}`,
    `  retried    ${number.format(report.retried)}`,
    `  429s seen  ${number.format(report.rateLimited)}`,
  ];
  if (report.failed.length > 0) {
    const groups = new Map<string, { count: number; example: string }>();
    for (const { error } of report.failed) {
      const label = errorLabel(error);
      const group = groups.get(label);
      if (group === undefined) groups.set(label, { count: 1, example: errorMessage(error) });
      else group.count++;
    }
    lines.push('  failures by cause:');
    for (const [label, { count, example }] of groups) {
      lines.push(`    ${label} ×${number.format(count)}: ${example}`);
    }
  }
  if (report.stopReason !== undefined && !extra.interrupted) {
    lines.push(`  stopped early: ${errorLabel(report.stopReason)}: ${errorMessage(report.stopReason)}`);
  }
  if (extra.unread > 0) lines.push(`  ${number.format(extra.unread)} lines were never read or sent.`);
  const unsent = report.failed.length + extra.unread;
  if (unsent > 0) {
    lines.push(
      extra.failedPath === undefined
        ? '  Not saved: run again with --failed <file> to keep the undelivered events for a re-import.'
        : `  Undelivered events written to ${extra.failedPath}; import that file to retry them (same ids, no duplicates).`,
    );
  }
  return lines.join('\n');
}
