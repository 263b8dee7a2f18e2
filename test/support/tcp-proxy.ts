import { connect, createServer, type Server, type Socket } from 'node:net';
import { freePort } from '../../tools/mysql-server';

/**
 * A TCP proxy in front of the database that a test controls, so that one instance can lose the database
 * while the shared server keeps running for everybody else.
 */
export interface TcpProxy {
  /** The port clients connect to; stays the same across `refuse()` / `forward()`. */
  readonly port: number;
  /** `url` with host and port replaced by the proxy's. */
  via(url: string): string;
  /** Closes every connection and stops listening: clients get ECONNREFUSED. */
  refuse(): Promise<void>;
  /** Keeps connections open but forwards nothing either way, and accepts new ones that never answer. */
  blackhole(): void;
  /** Back to normal: drops blackholed connections, listens again when refused, forwards new connections. */
  forward(): Promise<void>;
  close(): Promise<void>;
}

/** Starts a proxy on a free port of 127.0.0.1 forwarding to `target` (`host:port`). */
export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  const port = await freePort();
  const sockets = new Set<Socket>();
  let mode: 'forward' | 'blackhole' = 'forward';
  let server: Server | undefined;

  const track = (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
  };
  const onConnection = (client: Socket) => {
    track(client);
    if (mode === 'blackhole') return; // accepted, never answered
    const upstream = connect(target.port, target.host);
    track(upstream);
    client.on('data', (chunk) => mode === 'forward' && upstream.write(chunk));
    upstream.on('data', (chunk) => mode === 'forward' && client.write(chunk));
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  };
  const listen = () =>
    new Promise<void>((resolve, reject) => {
      const next = createServer(onConnection);
      next.once('error', reject);
      next.listen(port, '127.0.0.1', () => {
        server = next;
        resolve();
      });
    });
  const stopListening = () =>
    new Promise<void>((resolve) => {
      const current = server;
      server = undefined;
      if (!current) return resolve();
      current.close(() => resolve());
    });
  const dropAll = () => {
    for (const socket of sockets) socket.destroy();
    sockets.clear();
  };

  await listen();
  return {
    port,
    via(url: string) {
      const parsed = new URL(url);
      parsed.hostname = '127.0.0.1';
      parsed.port = String(port);
      return parsed.toString();
    },
    async refuse() {
      mode = 'forward';
      const closed = stopListening();
      dropAll();
      await closed;
    },
    blackhole() {
      mode = 'blackhole';
    },
    async forward() {
      if (mode === 'blackhole') dropAll();
      mode = 'forward';
      if (!server) await listen();
    },
    async close() {
      const closed = stopListening();
      dropAll();
      await closed;
    },
  };
}
