// The instant scripted model in a process of its own (the test suite's scripted-model-server.ts, run on its own
// with bench/lib/scripted-turn.ts as its handler), the way a model provider is another machine to the server.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const SERVER = path.resolve(HERE, '../../packages/server/test/support/scripted-model-server.ts');
const HANDLER = path.join(HERE, 'scripted-turn.ts');

export interface ModelProcess {
  url: string;
  close(): Promise<void>;
}

export function startModelProcess(): Promise<ModelProcess> {
  const child = spawn(process.execPath, [SERVER, '0', HANDLER], { stdio: ['ignore', 'pipe', 'inherit'] });
  // A bench that ends on an error must not leave the model running.
  const stopWithBench = () => child.kill('SIGTERM');
  process.once('exit', stopWithBench);
  return new Promise((resolve, reject) => {
    let output = '';
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`the scripted model process exited with ${code} before it listened`)));
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      output += chunk;
      const line = output.split('\n')[0];
      if (!output.includes('\n') || !line) return;
      child.removeAllListeners('exit');
      resolve({
        url: (JSON.parse(line) as { url: string }).url,
        close: () =>
          new Promise((done) => {
            process.removeListener('exit', stopWithBench);
            if (child.exitCode !== null || child.signalCode !== null) return done();
            child.once('exit', () => done());
            child.kill('SIGTERM');
          }),
      });
    });
  });
}
