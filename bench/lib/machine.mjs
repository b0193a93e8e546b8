/** What the numbers were measured on. */
import { readFileSync } from 'node:fs';
import os from 'node:os';

/** The 1-minute load average. */
export function loadAverage() {
  return Number(os.loadavg()[0].toFixed(2));
}

export function machine(redisVersion) {
  let cpu = os.cpus()[0]?.model ?? 'unknown';
  try {
    const match = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (match) cpu = match[1].trim();
  } catch {
    // not Linux: os.cpus() it is
  }
  return {
    cpu,
    cores: os.availableParallelism?.() ?? os.cpus().length,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    redis: redisVersion?.match(/v=([\d.]+)/)?.[1] ?? redisVersion ?? 'not installed',
  };
}

/**
 * CPU time used by every process on the machine so far (user, nice, system, irq, softirq,
 * steal), in microseconds, from /proc/stat; undefined when not on Linux. Minus what the
 * benchmark's own processes used, it shows how much other work shared the cores in a run.
 */
export function machineBusyMicros() {
  try {
    const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    const [user, nice, system, , , irq, softirq, steal = 0] = fields;
    return (user + nice + system + irq + softirq + steal) * 10_000; // USER_HZ is 100 on Linux
  } catch {
    return undefined;
  }
}
