/**
 * A wire-protocol proxy in front of pglite-socket, on the stack's Postgres port (54322). It does three
 * things a real Postgres server does by itself and PGlite's single session cannot:
 *
 * 1. **One client at a time.** It gives one client the database from its first message until the server
 *    is idle again (ReadyForQuery with status 'I' and nothing outstanding). pglite-socket queues
 *    *messages*, not client batches, and only keeps other clients out once a transaction block is open:
 *    two clients that each send Parse/Bind/Execute/Sync at the same moment can interleave — B's Bind then
 *    runs A's unnamed statement, so B's `begin` can become A's `commit` and B's `set local role` a no-op.
 *    Behind this proxy every batch, and every transaction block, runs whole.
 * 2. **A clean session for every client.** PGlite has ONE session, so a client's `set role anon`, a
 *    session-level `request.jwt.claims`, prepared statements, cursors, LISTENs or temp tables would outlive
 *    it and greet the next client. When a client leaves, the proxy rolls back what it left open and runs
 *    `DISCARD ALL` (which PGlite supports: SET SESSION AUTHORIZATION DEFAULT, RESET ALL, DEALLOCATE ALL,
 *    CLOSE ALL, UNLISTEN *, advisory unlocks, temp objects) plus the engine's startup settings; a new
 *    client gets the same reset before its startup. The one session is still shared by the clients
 *    connected at the same moment: session-level settings belong in `begin; set local …`.
 * 3. **Password authentication** like `supabase start`: SCRAM-SHA-256 against the local password
 *    `postgres` for user `postgres`; anything else is refused with Postgres' own error (28P01).
 *
 * A client that sits idle inside an open transaction (psql after `begin`) holds the database until it
 * commits or disconnects — the price of one session, said in the README.
 */
import { createHash, createHmac, pbkdf2Sync, randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, connect, type Server, type Socket } from 'node:net';

const SSL_REQUEST_CODE = 80877103;
const CANCEL_REQUEST_CODE = 80877102;
const GSSENC_REQUEST_CODE = 80877104;
const PROTOCOL_3 = 196608;
const SCRAM_ITERATIONS = 4096;

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

export interface ProxyOptions {
  upstreamPort: number;
  upstreamHost?: string;
  port?: number;
  host?: string;
  /** Credentials clients must present (SCRAM-SHA-256); default postgres / postgres. */
  auth?: { user: string; password: string };
  /** Run after `DISCARD ALL` whenever the session is reset (the engine's startup settings). */
  sessionInitSql?: string;
}

// ------------------------------------------------------------------------------------------------
// Wire helpers

function message(type: string, body: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head.write(type, 0, 'latin1');
  head.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([head, body]);
}

function query(sql: string): Buffer {
  return message('Q', Buffer.from(`${sql}\0`, 'utf8'));
}

const SYNC = message('S', Buffer.alloc(0));

function authMessage(code: number, data: Buffer = Buffer.alloc(0)): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32BE(code, 0);
  return message('R', Buffer.concat([b, data]));
}

function errorResponse(severity: string, code: string, text: string): Buffer {
  const field = (t: string, v: string) => Buffer.from(`${t}${v}\0`, 'utf8');
  return message('E', Buffer.concat([field('S', severity), field('V', severity), field('C', code), field('M', text), Buffer.from([0])]));
}

function parseStartupParams(msg: Buffer): Record<string, string> {
  const parts = msg.subarray(8).toString('utf8').split('\0');
  const out: Record<string, string> = {};
  for (let i = 0; i + 1 < parts.length && parts[i]; i += 2) out[parts[i]!] = parts[i + 1]!;
  return out;
}

/** The server side of SCRAM-SHA-256 (RFC 5802 / 7677) for one fixed password. */
class ScramVerifier {
  private readonly salt = randomBytes(16);
  private readonly storedKey: Buffer;
  private readonly serverKey: Buffer;
  constructor(password: string) {
    const salted = pbkdf2Sync(password.normalize('NFKC'), this.salt, SCRAM_ITERATIONS, 32, 'sha256');
    this.storedKey = createHash('sha256').update(createHmac('sha256', salted).update('Client Key').digest()).digest();
    this.serverKey = createHmac('sha256', salted).update('Server Key').digest();
  }

  /** Parses client-first-message; returns the server-first-message, or an error text. */
  first(clientFirst: string): { gs2: string; clientFirstBare: string; nonce: string; serverFirst: string } | string {
    const m = /^([ny]),(a=[^,]*)?,(.*)$/.exec(clientFirst);
    if (!m) return 'malformed SCRAM message (channel binding is not supported here)';
    const clientFirstBare = m[3]!;
    const r = /(?:^|,)r=([^,]+)/.exec(clientFirstBare);
    if (!r) return 'malformed SCRAM message (no nonce)';
    const nonce = r[1]! + randomBytes(18).toString('base64');
    const serverFirst = `r=${nonce},s=${this.salt.toString('base64')},i=${SCRAM_ITERATIONS}`;
    return { gs2: `${m[1]},${m[2] ?? ''},`, clientFirstBare, nonce, serverFirst };
  }

  /** Checks client-final-message; returns the server-final-message when the proof is right. */
  final(state: { gs2: string; clientFirstBare: string; nonce: string; serverFirst: string }, clientFinal: string): string | null {
    const i = clientFinal.lastIndexOf(',p=');
    if (i < 0) return null;
    const withoutProof = clientFinal.slice(0, i);
    const proof = Buffer.from(clientFinal.slice(i + 3), 'base64');
    const c = /(?:^|,)c=([^,]*)/.exec(withoutProof)?.[1];
    const r = /(?:^|,)r=([^,]*)/.exec(withoutProof)?.[1];
    if (r !== state.nonce || c === undefined || Buffer.from(c, 'base64').toString() !== state.gs2 || proof.length !== 32) return null;
    const authMsg = `${state.clientFirstBare},${state.serverFirst},${withoutProof}`;
    const signature = createHmac('sha256', this.storedKey).update(authMsg).digest();
    const clientKey = Buffer.alloc(32);
    for (let k = 0; k < 32; k++) clientKey[k] = proof[k]! ^ signature[k]!;
    if (!timingSafeEqual(createHash('sha256').update(clientKey).digest(), this.storedKey)) return null;
    return `v=${createHmac('sha256', this.serverKey).update(authMsg).digest('base64')}`;
  }
}

// ------------------------------------------------------------------------------------------------

interface Outgoing {
  buf: Buffer;
  /** Ends a batch: one ReadyForQuery answers it. */
  terminates: boolean;
  /** The answer goes to the client (false: the proxy's own reset, answered to nobody). */
  forward: boolean;
}

export async function serveSessionProxy(opts: ProxyOptions): Promise<ProxyHandle> {
  const host = opts.host ?? '127.0.0.1';
  const upstreamHost = opts.upstreamHost ?? '127.0.0.1';
  const auth = opts.auth ?? { user: 'postgres', password: 'postgres' };
  const scram = new ScramVerifier(auth.password);
  const resetBatches = ['discard all', ...(opts.sessionInitSql ? [opts.sessionInitSql] : [])].map((sql) => query(sql));
  const mutex = new Mutex();
  const sockets = new Set<Socket>();
  let stopping = false;

  const server: Server = createServer((client) => {
    sockets.add(client);
    client.setNoDelay(true);
    let upstream: Socket | null = null;

    type Phase = 'startup' | 'sasl-initial' | 'sasl-final' | 'ready' | 'leaving' | 'done';
    let phase: Phase = 'startup';
    let startupMsg: Buffer | null = null;
    let user = '';
    let scramState: Exclude<ReturnType<ScramVerifier['first']>, string> | null = null;
    let clientBuf: Buffer = Buffer.alloc(0);
    let serverBuf: Buffer = Buffer.alloc(0);
    let pending: Outgoing[] = []; // waiting for the lock
    const expecting: boolean[] = []; // per batch sent upstream and not yet answered: forward its answer?
    let release: (() => void) | null = null;
    let acquiring = false;
    let status = 'I';
    let startupSent = false;
    let leaveTimer: NodeJS.Timeout | null = null;

    const finish = () => {
      if (phase === 'done') return;
      phase = 'done';
      if (leaveTimer) clearTimeout(leaveTimer);
      client.destroy();
      upstream?.destroy();
      sockets.delete(client);
      if (upstream) sockets.delete(upstream);
      // If the reset could not run, pglite-socket still rolls back a transaction left open by this handler.
      release?.();
      release = null;
    };

    const fail = (severity: string, code: string, text: string) => {
      if (phase === 'done' || phase === 'leaving') return;
      client.end(errorResponse(severity, code, text));
      phase = 'done';
      sockets.delete(client);
      upstream?.destroy();
      release?.();
      release = null;
    };

    const maybeRelease = () => {
      if (!release || expecting.length > 0 || status !== 'I') return;
      if (phase === 'leaving') return finish();
      release();
      release = null;
      if (pending.length) flush();
    };

    const flush = () => {
      if (!pending.length || phase === 'done' || !upstream) return;
      if (release) {
        const out = pending;
        pending = [];
        for (const o of out) if (o.terminates) expecting.push(o.forward);
        upstream.write(Buffer.concat(out.map((o) => o.buf)));
        if (out.some((o) => o.buf === startupMsg)) startupSent = true;
        return;
      }
      if (acquiring) return;
      acquiring = true;
      void mutex.acquire().then((r) => {
        acquiring = false;
        if (phase === 'done') return r();
        release = r;
        flush();
        maybeRelease();
      });
    };

    /** The client is gone (Terminate, close or error): give the next client a clean session. */
    const leave = () => {
      if (phase === 'done' || phase === 'leaving') return;
      const wasReady = phase === 'ready';
      phase = 'leaving';
      client.destroy();
      sockets.delete(client);
      // The client's unsent messages die with it; a client whose startup never reached PGlite changed nothing.
      pending = [];
      if (stopping || !wasReady || !upstream || !startupSent) return finish();
      // Sync ends an extended-protocol batch the client left half-sent; then roll back whatever it left
      // open and reset the session. Nothing of this is answered to anyone.
      for (const buf of [SYNC, query('rollback'), ...resetBatches]) pending.push({ buf, terminates: true, forward: false });
      // A runaway statement still holds the session: give up waiting after a while, pglite-socket rolls
      // back what this connection left open when its socket closes.
      leaveTimer = setTimeout(finish, 30_000);
      leaveTimer.unref();
      flush();
      maybeRelease();
    };

    client.on('error', leave);
    client.on('close', leave);

    const startSession = () => {
      phase = 'ready';
      upstream = connect(opts.upstreamPort, upstreamHost);
      sockets.add(upstream);
      upstream.setNoDelay(true);
      upstream.on('error', finish);
      upstream.on('close', finish);
      upstream.on('data', onUpstreamData);
      // Reset before the startup, so the ParameterStatus values the client receives are the clean ones.
      for (const buf of resetBatches) pending.push({ buf, terminates: true, forward: false });
      pending.push({ buf: startupMsg!, terminates: true, forward: true });
    };

    const onUpstreamData = (chunk: Buffer) => {
      serverBuf = serverBuf.length ? Buffer.concat([serverBuf, chunk]) : chunk;
      const toClient: Buffer[] = [];
      for (;;) {
        if (serverBuf.length < 5) break;
        const type = String.fromCharCode(serverBuf[0]!);
        const len = 1 + serverBuf.readInt32BE(1);
        if (serverBuf.length < len) break;
        const msg = serverBuf.subarray(0, len);
        serverBuf = serverBuf.subarray(len);
        const forward = expecting.length ? expecting[0]! : true;
        if (forward && phase === 'ready') toClient.push(msg);
        if (type === 'Z') {
          status = String.fromCharCode(msg[5]!);
          expecting.shift();
        }
      }
      if (toClient.length) client.write(Buffer.concat(toClient));
      maybeRelease();
    };

    client.on('data', (chunk: Buffer) => {
      if (phase === 'done' || phase === 'leaving') return;
      clientBuf = clientBuf.length ? Buffer.concat([clientBuf, chunk]) : chunk;
      for (;;) {
        if (phase === 'startup') {
          if (clientBuf.length < 8) break;
          const len = clientBuf.readInt32BE(0);
          if (clientBuf.length < len) break;
          const code = clientBuf.readInt32BE(4);
          const msg = Buffer.from(clientBuf.subarray(0, len));
          clientBuf = clientBuf.subarray(len);
          if (code === SSL_REQUEST_CODE || code === GSSENC_REQUEST_CODE) {
            client.write('N'); // no TLS on the loopback dev port, like pglite-socket
            continue;
          }
          if (code === CANCEL_REQUEST_CODE) return finish(); // PGlite cannot cancel a running statement
          if (code !== PROTOCOL_3) return fail('FATAL', '0A000', `unsupported frontend protocol ${code >> 16}.${code & 0xffff}`);
          startupMsg = msg;
          user = parseStartupParams(msg).user ?? '';
          client.write(authMessage(10, Buffer.from('SCRAM-SHA-256\0\0')));
          phase = 'sasl-initial';
          continue;
        }
        if (clientBuf.length < 5) break;
        const type = String.fromCharCode(clientBuf[0]!);
        const len = 1 + clientBuf.readInt32BE(1);
        if (clientBuf.length < len) break;
        const msg = Buffer.from(clientBuf.subarray(0, len));
        clientBuf = clientBuf.subarray(len);

        if (phase === 'sasl-initial' || phase === 'sasl-final') {
          if (type === 'X') return finish();
          if (type !== 'p') return fail('FATAL', '08P01', `expected a password response, got message type "${type}"`);
          const body = msg.subarray(5);
          if (phase === 'sasl-initial') {
            const nul = body.indexOf(0);
            const mechanism = body.subarray(0, nul).toString();
            if (mechanism !== 'SCRAM-SHA-256') return fail('FATAL', '28000', `client selected an invalid SASL authentication mechanism`);
            const dataLen = body.readInt32BE(nul + 1);
            const first = scram.first(body.subarray(nul + 5, nul + 5 + Math.max(dataLen, 0)).toString('utf8'));
            if (typeof first === 'string') return fail('FATAL', '08P01', first);
            scramState = first;
            client.write(authMessage(11, Buffer.from(first.serverFirst)));
            phase = 'sasl-final';
          } else {
            const serverFinal = scram.final(scramState!, body.toString('utf8'));
            if (!serverFinal || user !== auth.user) {
              return fail('FATAL', '28P01', `password authentication failed for user "${user}"`);
            }
            client.write(authMessage(12, Buffer.from(serverFinal)));
            startSession(); // AuthenticationOk and the rest come from PGlite's answer to the startup
          }
          continue;
        }

        // ready
        if (type === 'X') return leave(); // Terminate: the session is reset for the next client
        pending.push({ buf: msg, terminates: type === 'S' || type === 'Q' || type === 'F', forward: true });
      }
      flush();
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
        stopping = true;
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
