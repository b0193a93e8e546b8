/**
 * Starts a demo API as its own process (what `npm run demo` runs after setup) on a free
 * port on 127.0.0.1, and stops it.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';

const root = join(__dirname, '..', '..');
const tsx = join(root, 'node_modules', '.bin', 'tsx');

export interface DemoProcess {
  readonly url: string;
  readonly process: ChildProcess;
}

export function startDemo(framework: string, env: Record<string, string> = {}): Promise<DemoProcess> {
  const child = spawn(tsx, ['--tsconfig', 'examples/tsconfig.json', `examples/${framework}/src/server.ts`], {
    cwd: root,
    env: { ...process.env, PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${framework} demo did not start in 20 s`)), 20_000);
    let output = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const match = /^listening on (http:\/\/127\.0\.0\.1:\d+)$/m.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve({ url: match[1] as string, process: child });
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${framework} demo exited with ${code} before listening: ${output}`));
    });
  });
}

export function stopDemo(demo: DemoProcess | undefined): Promise<void> {
  if (!demo || demo.process.exitCode !== null || demo.process.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    demo.process.once('exit', () => resolve());
    demo.process.kill('SIGTERM');
  });
}
