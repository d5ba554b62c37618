/**
 * A wire-protocol proxy in front of pglite-socket that gives one client at a time the database from its
 * first message until the server is idle again (ReadyForQuery with status 'I' and nothing outstanding).
 *
 * Why: PGlite has ONE backend session. pglite-socket queues *messages*, not client batches, and only keeps
 * other clients out once a transaction block is open. Two clients that each send Parse/Bind/Execute/Sync
 * at the same moment can interleave — B's Bind then runs A's unnamed statement, so B's `begin` can become
 * A's `commit` and B's `set local role` a no-op. Behind this proxy every batch, and every transaction
 * block, runs whole. Real Postgres needs none of this; the edge functions run unchanged against either.
 *
 * A client that sits idle inside an open transaction (psql after `begin`) holds the database until it
 * commits or disconnects — the price of one session, said in the README.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';

const SSL_REQUEST_CODE = 80877103;
const CANCEL_REQUEST_CODE = 80877102;
const GSSENC_REQUEST_CODE = 80877104;

/** FIFO mutex; `acquire` resolves with the release function. */
class Mutex {
  private held = false;
  private waiters: Array<() => void> = [];
  acquire(): Promise<() => void> {
    return new Promise((resolve) => {
      const grant = () => {
        this.held = true;
        let released = false;
        resolve(() => {
          if (released) return;
          released = true;
          this.held = false;
          const next = this.waiters.shift();
          if (next) next();
        });
      };
      if (!this.held) grant();
      else this.waiters.push(grant);
    });
  }
}

export interface ProxyHandle {
  port: number;
  host: string;
  stop(): Promise<void>;
}

export async function serveSessionProxy(opts: {
  upstreamPort: number;
  upstreamHost?: string;
  port?: number;
  host?: string;
}): Promise<ProxyHandle> {
  const host = opts.host ?? '127.0.0.1';
  const upstreamHost = opts.upstreamHost ?? '127.0.0.1';
  const mutex = new Mutex();
  const sockets = new Set<Socket>();

  const server: Server = createServer((client) => {
    sockets.add(client);
    const upstream = connect(opts.upstreamPort, upstreamHost);
    sockets.add(upstream);
    client.setNoDelay(true);
    upstream.setNoDelay(true);

    let startupDone = false; // the client has sent its StartupMessage (or is a cancel request)
    let sslBytesExpected = 0; // 'N'/'S' answers to SSLRequest/GSSENCRequest arrive unframed
    let clientBuf: Buffer = Buffer.alloc(0);
    let serverBuf: Buffer = Buffer.alloc(0);
    let pending: Buffer[] = []; // complete client messages waiting for the lock
    let release: (() => void) | null = null;
    let acquiring = false;
    let outstanding = 0; // batches sent (Sync, Query, FunctionCall, StartupMessage) not yet answered
    let status = 'I';
    let closed = false;

    const close = () => {
      if (closed) return;
      closed = true;
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
      // pglite-socket rolls back a transaction left open by a disconnecting client.
      release?.();
      release = null;
    };
    client.on('error', close);
    upstream.on('error', close);
    client.on('close', close);
    upstream.on('close', close);

    const maybeRelease = () => {
      if (release && outstanding === 0 && status === 'I') {
        release();
        release = null;
        if (pending.length) flush();
      }
    };

    const flush = () => {
      if (!pending.length || closed) return;
      if (release) {
        const out = Buffer.concat(pending);
        pending = [];
        upstream.write(out);
        return;
      }
      if (acquiring) return;
      acquiring = true;
      void mutex.acquire().then((r) => {
        acquiring = false;
        if (closed) return r();
        release = r;
        flush();
        maybeRelease();
      });
    };

    const enqueue = (msg: Buffer, terminates: boolean) => {
      if (terminates) outstanding++;
      pending.push(msg);
    };

    client.on('data', (chunk: Buffer) => {
      clientBuf = clientBuf.length ? Buffer.concat([clientBuf, chunk]) : chunk;
      for (;;) {
        if (!startupDone) {
          if (clientBuf.length < 8) break;
          const len = clientBuf.readInt32BE(0);
          if (clientBuf.length < len) break;
          const code = clientBuf.readInt32BE(4);
          const msg = clientBuf.subarray(0, len);
          clientBuf = clientBuf.subarray(len);
          if (code === SSL_REQUEST_CODE || code === GSSENC_REQUEST_CODE) {
            // Answered locally by pglite-socket with one unframed byte; no database access.
            sslBytesExpected++;
            upstream.write(msg);
            continue;
          }
          if (code === CANCEL_REQUEST_CODE) {
            startupDone = true;
            upstream.write(msg);
            continue;
          }
          startupDone = true;
          enqueue(Buffer.from(msg), true);
          continue;
        }
        if (clientBuf.length < 5) break;
        const type = String.fromCharCode(clientBuf[0]!);
        const len = 1 + clientBuf.readInt32BE(1);
        if (clientBuf.length < len) break;
        const msg = Buffer.from(clientBuf.subarray(0, len));
        clientBuf = clientBuf.subarray(len);
        if (type === 'X') {
          // Terminate: nothing comes back; let it through only when we are not mid-batch.
          enqueue(msg, false);
          continue;
        }
        enqueue(msg, type === 'S' || type === 'Q' || type === 'F');
      }
      flush();
    });

    upstream.on('data', (chunk: Buffer) => {
      client.write(chunk);
      serverBuf = serverBuf.length ? Buffer.concat([serverBuf, chunk]) : chunk;
      for (;;) {
        if (sslBytesExpected > 0) {
          if (serverBuf.length < 1) break;
          serverBuf = serverBuf.subarray(1);
          sslBytesExpected--;
          continue;
        }
        if (serverBuf.length < 5) break;
        const type = String.fromCharCode(serverBuf[0]!);
        const len = 1 + serverBuf.readInt32BE(1);
        if (serverBuf.length < len) break;
        if (type === 'Z') {
          status = String.fromCharCode(serverBuf[5]!);
          if (outstanding > 0) outstanding--;
        }
        serverBuf = serverBuf.subarray(len);
      }
      maybeRelease();
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => resolve());
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return {
    host,
    port,
    stop: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
