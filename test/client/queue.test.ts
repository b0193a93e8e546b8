/**
 * The queue: concurrency, a sliding-window start cap, priorities, per-task abort,
 * onIdle / onSizeLessThan, counters, pause, clear.
 */
import { createQueue } from '@tierlimit/client';
import { START, VirtualTime } from './support/virtual-time';

/** A task that finishes when the test says so. */
function deferred() {
  let resolve!: (value: string) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<string>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

const flush = () => new Promise((resolve) => setImmediate(resolve));

test('runs at most `concurrency` tasks at once; size and pending count them', async () => {
  const queue = createQueue({ concurrency: 2 });
  const tasks = [deferred(), deferred(), deferred()];
  const results = tasks.map((task) => queue.add(() => task.promise));
  await flush();
  expect(queue.pending).toBe(2);
  expect(queue.size).toBe(1);
  tasks[0]?.resolve('a');
  await flush();
  expect(queue.pending).toBe(2);
  expect(queue.size).toBe(0);
  tasks[1]?.resolve('b');
  tasks[2]?.resolve('c');
  await expect(Promise.all(results)).resolves.toEqual(['a', 'b', 'c']);
  expect(queue.pending).toBe(0);
});

test('higher priority first, equal priorities in the order added', async () => {
  const queue = createQueue({ concurrency: 1 });
  const gate = deferred();
  const order: string[] = [];
  const first = queue.add(() => gate.promise);
  const added = [
    queue.add(() => order.push('low'), { priority: -1 }),
    queue.add(() => order.push('normal-1')),
    queue.add(() => order.push('high'), { priority: 5 }),
    queue.add(() => order.push('normal-2')),
  ];
  gate.resolve('open');
  await Promise.all([first, ...added]);
  expect(order).toEqual(['high', 'normal-1', 'normal-2', 'low']);
});

test('aborting a waiting task removes it and rejects it with the reason', async () => {
  const queue = createQueue({ concurrency: 1 });
  const gate = deferred();
  void queue.add(() => gate.promise);
  const controller = new AbortController();
  let ran = false;
  const aborted = queue.add(
    () => {
      ran = true;
    },
    { signal: controller.signal },
  );
  await flush();
  expect(queue.size).toBe(1);
  controller.abort(new Error('not needed'));
  await expect(aborted).rejects.toThrow('not needed');
  expect(queue.size).toBe(0);
  gate.resolve('done');
  await queue.onIdle();
  expect(ran).toBe(false);
});

test('a running task receives its signal; an already aborted signal never queues', async () => {
  const queue = createQueue();
  const controller = new AbortController();
  const seen = await queue.add(({ signal }) => signal, { signal: controller.signal });
  expect(seen).toBe(controller.signal);
  await expect(queue.add(() => 1, { signal: AbortSignal.abort('late') })).rejects.toBe('late');
});

test('task errors reject that task only, and the queue goes on', async () => {
  const queue = createQueue({ concurrency: 1 });
  const failing = queue.add(() => {
    throw new Error('bad task');
  });
  const fine = queue.add(() => 'ok');
  await expect(failing).rejects.toThrow('bad task');
  await expect(fine).resolves.toBe('ok');
});

test('onIdle resolves when nothing waits or runs; onSizeLessThan when the backlog shrinks', async () => {
  const queue = createQueue({ concurrency: 1 });
  await queue.onIdle(); // already idle
  const tasks = [deferred(), deferred(), deferred()];
  for (const task of tasks) void queue.add(() => task.promise);
  let idle = false;
  let small = false;
  void queue.onIdle().then(() => {
    idle = true;
  });
  void queue.onSizeLessThan(2).then(() => {
    small = true;
  });
  await flush();
  expect([idle, small]).toEqual([false, false]);
  tasks[0]?.resolve('');
  await flush();
  expect([idle, small]).toEqual([false, true]);
  tasks[1]?.resolve('');
  tasks[2]?.resolve('');
  await flush();
  expect(idle).toBe(true);
});

test('intervalCap limits starts in any sliding window of intervalMs', async () => {
  const time = new VirtualTime();
  const queue = createQueue({ intervalCap: 2, intervalMs: 1_000, now: time.now, sleep: time.sleep });
  const starts: number[] = [];
  const all = Array.from({ length: 5 }, () => queue.add(() => starts.push(time.now() - START)));
  await time.run(Promise.all(all));
  expect(starts).toEqual([0, 0, 1_000, 1_000, 2_000]);
});

test('the window slides: no double burst around a boundary', async () => {
  const time = new VirtualTime();
  const queue = createQueue({ intervalCap: 2, intervalMs: 1_000, now: time.now, sleep: time.sleep });
  await time.run(queue.add(() => undefined));
  time.advance(900);
  const starts: number[] = [];
  const all = Array.from({ length: 3 }, () => queue.add(() => starts.push(time.now() - START)));
  await time.run(Promise.all(all));
  // A fixed window starting at 0 would admit 1 at 900 and 2 more at 1,000: three within 100 ms.
  expect(starts).toEqual([900, 1_000, 1_900]);
});

test('pause stops starting tasks; start resumes', async () => {
  const queue = createQueue();
  queue.pause();
  let ran = false;
  const task = queue.add(() => {
    ran = true;
  });
  await flush();
  expect([ran, queue.size, queue.isPaused]).toEqual([false, 1, true]);
  queue.start();
  await task;
  expect(ran).toBe(true);
});

test('clear rejects every waiting task', async () => {
  const queue = createQueue({ concurrency: 1 });
  const gate = deferred();
  const running = queue.add(() => gate.promise);
  const waiting = [queue.add(() => 1), queue.add(() => 2)];
  queue.clear(new Error('shutting down'));
  for (const task of waiting) await expect(task).rejects.toThrow('shutting down');
  gate.resolve('finished');
  await expect(running).resolves.toBe('finished');
});

test.each([
  [{ concurrency: 0 }, 'Expected `concurrency` to be a positive integer or Infinity, got 0.'],
  [
    { intervalCap: 10 },
    'Expected `intervalMs` to be a positive number of ms when `intervalCap` is set, got undefined.',
  ],
  [{ intervalCap: 1, intervalMs: 0 }, 'Expected `intervalMs` to be a finite positive number, got 0.'],
  [{ interval: 5 }, 'Unknown queue option `interval`.'],
])('bad options are refused: %j', (options, message) => {
  expect(() => createQueue(options as never)).toThrow(message);
});
