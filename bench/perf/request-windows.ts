/**
 * BENCH_CPU_PROF=DIR also preloads this into both servers (--import): every HTTP request a server answers is
 * written as one line `METHOD /path start end` (microseconds of the monotonic clock V8's CPU profiles use;
 * ids in the path masked) to DIR/windows-<pid>.txt, next to that process's CPU.*.<pid>.*.cpuprofile, so the
 * profile can be cut down to the requests of one route (bench/perf/profile-windows.ts). The window ends when
 * the response is handed to the socket: work a handler leaves running after that is not in it.
 */
import { appendFileSync } from 'node:fs';
import { Server, type IncomingMessage, type ServerResponse } from 'node:http';
import { join } from 'node:path';
import { routeLabel } from './route-label.js';

const dir = process.env.BENCH_WINDOWS_DIR;

if (dir) {
  const file = join(dir, `windows-${process.pid}.txt`);
  const micros = () => process.hrtime.bigint() / 1000n;
  const emit = Server.prototype.emit as (this: Server, event: string, ...args: unknown[]) => boolean;
  Server.prototype.emit = function (this: Server, event: string, ...args: unknown[]) {
    if (event === 'request') {
      const [req, res] = args as [IncomingMessage, ServerResponse];
      const start = micros();
      const route = routeLabel(req);
      res.once('finish', () => appendFileSync(file, `${route} ${start} ${micros()}\n`));
    }
    return emit.call(this, event, ...args);
  } as Server['emit'];
}
