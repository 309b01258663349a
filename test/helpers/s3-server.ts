import { spawn } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';

/** A real S3 REST server (s3rver) on 127.0.0.1 in a child process (s3-server-process.ts says why). */
export interface S3Server {
  readonly port: number;
  /** Stops the server and waits for its process to exit (the port is closed after it). */
  close(): Promise<void>;
}

const START_TIMEOUT_MS = 20_000;

export async function startS3Server(directory: string, bucket: string): Promise<S3Server> {
  const script = path.join(import.meta.dirname, 's3-server-process.ts');
  const child = spawn(process.execPath, ['--openssl-legacy-provider', '--import', 'tsx', script, directory, bucket], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`s3rver did not start within ${START_TIMEOUT_MS} ms`)); }, START_TIMEOUT_MS);
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`s3rver exited with ${code} before it listened`)); });
    const lines = createInterface({ input: child.stdout });
    lines.once('line', (line) => {
      clearTimeout(timer);
      const parsed = JSON.parse(line) as { port?: unknown };
      if (typeof parsed.port === 'number') resolve(parsed.port);
      else reject(new Error(`s3rver printed no port: ${line}`));
    });
  });
  return {
    port,
    close: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}
