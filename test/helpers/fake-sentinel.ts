/**
 * A Redis Sentinel as far as a client needs one: it answers `SENTINEL get-master-addr-by-name` with the
 * address it is told the primary has (a real Redis), and records every command. Speaks RESP2.
 */
import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

export interface FakeSentinel {
  port: number;
  commands: string[][];
  /** Where the master group `name` points now (a failover is a call to this). */
  setMaster(host: string, port: number): void;
  close(): Promise<void>;
}

const bulk = (s: string) => `$${Buffer.byteLength(s)}\r\n${s}\r\n`;
const array = (items: string[]) => `*${items.length}\r\n${items.map(bulk).join('')}`;

/** Parses complete RESP arrays of bulk strings from `buf`; returns the commands and the unparsed rest. */
function parse(buf: string): { commands: string[][]; rest: string } {
  const commands: string[][] = [];
  let pos = 0;
  outer: while (pos < buf.length) {
    if (buf[pos] !== '*') throw new Error(`unexpected RESP input ${JSON.stringify(buf.slice(pos, pos + 20))}`);
    let eol = buf.indexOf('\r\n', pos);
    if (eol < 0) break;
    const n = Number(buf.slice(pos + 1, eol));
    let p = eol + 2;
    const args: string[] = [];
    for (let i = 0; i < n; i++) {
      eol = buf.indexOf('\r\n', p);
      if (eol < 0) break outer;
      const len = Number(buf.slice(p + 1, eol));
      if (buf.length < eol + 2 + len + 2) break outer;
      args.push(buf.slice(eol + 2, eol + 2 + len));
      p = eol + 2 + len + 2;
    }
    commands.push(args);
    pos = p;
  }
  return { commands, rest: buf.slice(pos) };
}

export async function startFakeSentinel(opts: { name: string; master: { host: string; port: number }; password?: string }): Promise<FakeSentinel> {
  let master = opts.master;
  const commands: string[][] = [];
  const sockets = new Set<Socket>();
  const answer = (args: string[]): string => {
    const [cmd = '', sub = '', name] = args.map((a, i) => (i < 2 ? a.toLowerCase() : a));
    if (cmd === 'auth') return args[args.length - 1] === opts.password ? '+OK\r\n' : '-WRONGPASS invalid password\r\n';
    if (cmd === 'sentinel' && sub === 'get-master-addr-by-name') return name === opts.name ? array([master.host, String(master.port)]) : '*-1\r\n';
    if (cmd === 'sentinel' && sub === 'sentinels') return '*0\r\n';
    return `-ERR unknown command '${args[0]}' in this fake\r\n`;
  };
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    let buf = '';
    socket.on('data', (chunk) => {
      const parsed = parse(buf + chunk.toString('utf8'));
      buf = parsed.rest;
      for (const args of parsed.commands) {
        commands.push(args);
        socket.write(answer(args));
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    port: (server.address() as AddressInfo).port,
    commands,
    setMaster(host, port) {
      master = { host, port };
    },
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}
