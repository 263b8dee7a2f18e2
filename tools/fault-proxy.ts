// A TCP proxy in front of the database with injectable faults, for the chaos harness (tools/chaos/):
// one per candidate, so that one candidate can lose or slow its path to the database while the others
// keep theirs. (test/support/tcp-proxy.ts is the simpler one the e2e tests use.)
import { connect, createServer, type Server, type Socket } from 'node:net';
import { freePort } from './mysql-server';

/** What the proxy does with traffic. */
export type FaultMode =
  | { readonly kind: 'pass' }
  /** Every chunk, either way, is held `ms` before it is forwarded (order kept). */
  | { readonly kind: 'latency'; readonly ms: number }
  /** Connections stay open but nothing is forwarded; new connections are accepted and never answered. */
  | { readonly kind: 'blackhole' };

export interface FaultProxy {
  /** The port clients connect to; stays the same for the proxy's life. */
  readonly port: number;
  /** The current mode. */
  readonly mode: FaultMode;
  /** Open client connections. */
  readonly connections: number;
  /** `url` with host and port replaced by the proxy's. */
  via(url: string): string;
  /**
   * Switches mode. Leaving `blackhole` drops the connections that were blackholed (their streams lost
   * bytes, so they cannot be resumed); leaving `latency` forwards what is still held, in order.
   */
  setMode(mode: FaultMode): void;
  /** Resets every open connection (TCP RST both ways); new connections pass as before. */
  reset(): void;
  close(): Promise<void>;
}

/** One direction of one connection: chunks forwarded in order, each no earlier than its release time. */
class Pipe {
  private readonly queue: { chunk: Buffer; at: number }[] = [];
  private timer: NodeJS.Timeout | undefined;
  private lastAt = 0;

  constructor(private readonly to: Socket) {}

  push(chunk: Buffer, delayMs: number): void {
    if (delayMs <= 0 && this.queue.length === 0) {
      this.to.write(chunk);
      return;
    }
    const at = Math.max(this.lastAt, Date.now() + delayMs);
    this.lastAt = at;
    this.queue.push({ chunk, at });
    this.arm();
  }

  /** Forwards everything held now (latency ended). */
  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    for (const { chunk } of this.queue.splice(0)) this.to.write(chunk);
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.queue.length = 0;
  }

  private arm(): void {
    if (this.timer || this.queue.length === 0) return;
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        const nowMs = Date.now();
        while (this.queue.length > 0 && this.queue[0].at <= nowMs) {
          if (!this.to.destroyed) this.to.write(this.queue.shift()!.chunk);
          else this.queue.shift();
        }
        this.arm();
      },
      Math.max(0, this.queue[0].at - Date.now()),
    );
  }
}

interface Connection {
  readonly client: Socket;
  readonly upstream: Socket | undefined;
  readonly pipes: Pipe[];
  /** Accepted or forwarded during a blackhole: dropped when it ends. */
  blackholed: boolean;
}

/** Starts a fault proxy on a free port of 127.0.0.1 forwarding to `target`, in `pass` mode. */
export async function startFaultProxy(target: { host: string; port: number }): Promise<FaultProxy> {
  const port = await freePort();
  const connections = new Set<Connection>();
  let mode: FaultMode = { kind: 'pass' };

  const drop = (connection: Connection, reset: boolean) => {
    connections.delete(connection);
    for (const pipe of connection.pipes) pipe.stop();
    for (const socket of [connection.client, connection.upstream]) {
      if (!socket || socket.destroyed) continue;
      if (reset) socket.resetAndDestroy();
      else socket.destroy();
    }
  };

  const onConnection = (client: Socket) => {
    client.on('error', () => undefined);
    if (mode.kind === 'blackhole') {
      const connection: Connection = { client, upstream: undefined, pipes: [], blackholed: true };
      connections.add(connection);
      client.on('close', () => drop(connection, false));
      return;
    }
    const upstream = connect(target.port, target.host);
    upstream.on('error', () => undefined);
    const toUpstream = new Pipe(upstream);
    const toClient = new Pipe(client);
    const connection: Connection = { client, upstream, pipes: [toUpstream, toClient], blackholed: false };
    connections.add(connection);
    const delay = () => (mode.kind === 'latency' ? mode.ms : 0);
    client.on('data', (chunk: Buffer) => {
      if (mode.kind === 'blackhole') connection.blackholed = true;
      else toUpstream.push(chunk, delay());
    });
    upstream.on('data', (chunk: Buffer) => {
      if (mode.kind === 'blackhole') connection.blackholed = true;
      else toClient.push(chunk, delay());
    });
    client.on('close', () => drop(connection, false));
    upstream.on('close', () => drop(connection, false));
  };

  const server: Server = createServer(onConnection);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });

  return {
    port,
    get mode() {
      return mode;
    },
    get connections() {
      return connections.size;
    },
    via(url: string) {
      const parsed = new URL(url);
      parsed.hostname = '127.0.0.1';
      parsed.port = String(port);
      return parsed.toString();
    },
    setMode(next: FaultMode) {
      const previous = mode;
      mode = next;
      if (previous.kind === 'blackhole' && next.kind !== 'blackhole') {
        // Every connection open during the blackhole may have lost bytes: drop them all.
        for (const connection of [...connections]) drop(connection, false);
      }
      if (previous.kind === 'latency' && next.kind !== 'latency') {
        for (const connection of connections) for (const pipe of connection.pipes) pipe.flush();
      }
      if (next.kind === 'blackhole') {
        // Nothing held for later is forwarded either.
        for (const connection of connections) {
          connection.blackholed = true;
          for (const pipe of connection.pipes) pipe.stop();
        }
      }
    },
    reset() {
      for (const connection of [...connections]) drop(connection, true);
    },
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const connection of [...connections]) drop(connection, false);
      await closed;
    },
  };
}
