/** Starts one benchmark server (bench/servers/server.mjs) as a child process and talks to it over IPC. */
import { fileURLToPath } from 'node:url';
import { stop, track } from './processes.mjs';

const SERVER = fileURLToPath(new URL('../servers/server.mjs', import.meta.url));

export class ServerProcess {
  #child;
  #pending = new Map();
  #nextId = 1;
  port = 0;

  /**
   * @param {{ framework: string, variant: string, env?: Record<string,string>, nodeArgs?: string[] }} spec
   */
  static async start({ framework, variant, env = {}, nodeArgs = [] }) {
    const server = new ServerProcess();
    await server.#start(framework, variant, env, nodeArgs);
    return server;
  }

  get pid() {
    return this.#child.pid;
  }

  #start(framework, variant, env, nodeArgs) {
    const child = track(process.execPath, [...nodeArgs, SERVER, framework, variant], {
      env: { ...process.env, ...env, NODE_ENV: 'production' },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    this.#child = child;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${framework}/${variant} did not start within 20 s`)), 20_000);
      child.on('message', (message) => {
        if (message?.type === 'ready') {
          clearTimeout(timer);
          this.port = message.port;
          resolve();
          return;
        }
        const pending = this.#pending.get(message?.id);
        if (pending === undefined) return;
        this.#pending.delete(message.id);
        if (message.error) pending.reject(new Error(`${framework}/${variant}: ${message.error}`));
        else pending.resolve(message.value);
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        const error = new Error(`${framework}/${variant} exited (${signal ?? code})`);
        reject(error);
        for (const pending of this.#pending.values()) pending.reject(error);
        this.#pending.clear();
      });
    });
  }

  /** Asks the server one question (`stats` or `memory`). */
  ask(type) {
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#child.send({ id, type });
    });
  }

  /** Ends the server: gracefully (so a --cpu-prof profile is written), SIGKILL if it hangs. */
  async close() {
    const child = this.#child;
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    if (child.connected) child.disconnect();
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  }

  kill() {
    return stop(this.#child, { signal: 'SIGKILL' });
  }
}
