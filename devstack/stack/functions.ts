/**
 * Edge functions under real Deno, served the way the Supabase Edge Runtime serves them.
 *
 * - one Deno process per function (`supabase/functions/<name>/index.ts`, its own `deno.json`), each
 *   `Deno.serve` bound to a private unix socket through `DENO_SERVE_ADDRESS`, so the function code is the
 *   code you deploy — no port option, no wrapper;
 * - a small Node HTTP gateway on the API port routes `/functions/v1/<name>/…` to it. Like Kong in
 *   `supabase start`, it strips `/functions/v1`: the function sees `/<name>/…` plus the query string,
 *   exactly the pathname the Edge Runtime hands a function on hosted Supabase;
 * - packages resolve from the project's own node_modules (`"nodeModulesDir": "manual"`, `--cached-only`):
 *   nothing is downloaded at run time.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { createServer, request as httpRequest, STATUS_CODES, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface FunctionsOptions {
  root: string;
  /** Function names to serve; default every directory under supabase/functions with an index.ts (not `_shared`). */
  names?: string[];
  /** Environment for every function; a function of the gateway URL (known only once it listens). */
  env: (gatewayUrl: string) => Record<string, string>;
  port?: number;
  host?: string;
  log?: (line: string) => void;
  /** Requests wait for this too (the database starting alongside); false answers 503. */
  gate?: Promise<boolean>;
}

export interface FunctionsHandle {
  url: string;
  port: number;
  names: string[];
  stop(): Promise<void>;
}

interface Worker {
  name: string;
  socketPath: string;
  child: ChildProcess;
  exited: boolean;
  /** Last lines of output, for the error when a worker dies while starting. */
  tail: string[];
}

export async function listFunctions(functionsDir: string): Promise<string[]> {
  const entries = await readdir(functionsDir, { withFileTypes: true });
  return entries
    .filter((e) => e.isDirectory() && !e.name.startsWith('_') && existsSync(join(functionsDir, e.name, 'index.ts')))
    .map((e) => e.name)
    .sort();
}

/**
 * Runs the worker under a tiny shell that ties its life to ours: the shell holds the read end of a pipe
 * from this process, and when the pipe closes — we stopped it, crashed, or were SIGKILLed (tsx's signal
 * relay does that to a busy child) — it terminates Deno. SIGTERM to the shell does the same at once.
 */
const WATCHDOG = [
  'exec 3<&0',
  '"$@" </dev/null & pid=$!',
  'trap \'kill -TERM $pid 2>/dev/null\' TERM INT',
  '(while read -r _ <&3; do :; done; kill -TERM $pid 2>/dev/null) &',
  'wait $pid; status=$?',
  'wait $pid 2>/dev/null',
  'exit $status',
].join('\n');

function denoBinary(root: string): string {
  const local = join(root, 'node_modules', '.bin', 'deno');
  return existsSync(local) ? local : 'deno';
}

async function waitForSocket(path: string, w: Worker, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (w.exited) throw new Error(`function ${w.name} exited during start:\n${w.tail.join('\n')}`);
    const ok = await new Promise<boolean>((resolve) => {
      if (!existsSync(path)) return resolve(false);
      const s = connect(path);
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`function ${w.name} did not start within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 15));
  }
}

function sendJson(res: ServerResponse, status: number, code: string, message: string) {
  res.writeHead(status, {
    'content-type': 'application/json',
    'access-control-allow-origin': '*',
  });
  res.end(JSON.stringify({ error: { code, message } }));
}

export async function serveFunctions(opts: FunctionsOptions): Promise<FunctionsHandle> {
  const log = opts.log ?? (() => {});
  const functionsDir = join(opts.root, 'supabase', 'functions');
  const names = opts.names ?? (await listFunctions(functionsDir));
  const sockDir = await mkdtemp(join(tmpdir(), 'ajc-fn-'));
  const deno = denoBinary(opts.root);
  const workers = new Map<string, Worker>();
  let stopping = false;

  let markReady!: (ok: boolean) => void;
  const workersReady = new Promise<boolean>((resolve) => (markReady = resolve));
  const ready = opts.gate ? Promise.all([workersReady, opts.gate]).then(([a, b]) => a && b) : workersReady;

  // connectionsCheckingInterval: how often Node looks for requests past headersTimeout/requestTimeout
  // (default 30 s, which would stretch a 15 s limit to 45 s).
  const server: Server = createServer({ connectionsCheckingInterval: 1000 }, (req: IncomingMessage, res: ServerResponse) => {
    void ready
      .then((ok) => (ok ? route(req, res) : sendJson(res, 503, 'starting', 'The functions are still starting.')))
      .catch((e: unknown) => {
        // Only malformed request lines get here (e.g. a bad percent-escape in the function name).
        if (!res.headersSent) sendJson(res, 400, 'bad_request', `Cannot route this request: ${(e as Error).message}`);
        else res.destroy();
      });
  });
  const route = (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const m = /^\/functions\/v1\/([^/]+)(\/.*)?$/.exec(url.pathname);
    if (!m) return sendJson(res, 404, 'not_found', `No route ${url.pathname}; functions live under /functions/v1/<name>.`);
    // A function name has no dot: /functions/v1/openapi.json is the `openapi` function's document (the
    // path the contract gives it; on hosted Supabase it is /functions/v1/openapi).
    const segment = m[1] === 'openapi.json' ? 'openapi' : m[1]!;
    const name = decodeURIComponent(segment);
    const w = workers.get(name);
    if (!w) return sendJson(res, 404, 'function_not_found', `No function named ${JSON.stringify(name)}. Served: ${names.join(', ')}.`);
    if (w.exited) return sendJson(res, 503, 'function_unavailable', `Function ${name} is not running; see the npm start output.`);
    const headers = { ...req.headers, host: `${opts.host ?? '127.0.0.1'}:${port}` } as Record<string, string | string[] | undefined>;
    headers['x-forwarded-host'] = req.headers.host;
    headers['x-forwarded-proto'] = 'http';
    const upstream = httpRequest(
      { socketPath: w.socketPath, method: req.method, path: `/${segment}${m[2] ?? ''}${url.search}`, headers },
      (up) => {
        const outHeaders = { ...up.headers };
        if (!req.complete) {
          // The function answered before reading the whole body (413, 401…): stop forwarding, discard the
          // rest, and close the connection after this response so the client does not reuse a socket
          // that is still mid-upload.
          outHeaders.connection = 'close';
          req.unpipe(upstream);
          req.resume();
        }
        res.writeHead(up.statusCode ?? 502, outHeaders);
        up.pipe(res);
      },
    );
    upstream.on('error', (err) => {
      if (res.destroyed) return;
      if (!res.headersSent) sendJson(res, 502, 'function_unreachable', `Function ${name} did not answer: ${err.message}`);
      else if (!res.writableEnded) res.destroy();
    });
    // The client went away (or the gateway cut it off): the function's body read ends at once.
    res.on('close', () => {
      if (!res.writableFinished) upstream.destroy();
    });
    req.pipe(upstream);
  };
  server.keepAliveTimeout = 5000;
  // Requests the gateway cannot hand on (headers over Node's 16 KB limit — a huge Authorization header or
  // URL —, a malformed request line, headers or a body that take too long) are answered in the API's
  // JSON error shape instead of Node's bare status line.
  server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    const answers: Record<string, [number, string, string]> = {
      HPE_HEADER_OVERFLOW: [431, 'headers_too_large', 'The request line and headers are limited to 16 KB (a URL or Authorization header that long is not a valid request); shorten them.'],
      ERR_HTTP_REQUEST_TIMEOUT: [408, 'request_timeout', 'The request (headers and body) did not arrive in time; send it again, all at once.'],
      ERR_HTTP_HEADERS_TIMEOUT: [408, 'request_timeout', 'The request headers did not arrive in time; send them again, all at once.'],
    };
    const [status, code, message] = answers[err.code ?? ''] ?? [400, 'bad_request', `The request is not valid HTTP (${err.code ?? err.message}).`];
    const pending = (socket as unknown as { _httpMessage?: ServerResponse })._httpMessage;
    if (socket.writable && !pending?.headersSent && err.code !== 'ECONNRESET') {
      const body = JSON.stringify({ error: { code, message } });
      socket.end(
        `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json\r\nAccess-Control-Allow-Origin: *\r\n` +
          `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
      );
    }
    socket.destroy();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => resolve());
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  const host = opts.host ?? '127.0.0.1';
  const url = `http://${host}:${port}`;
  const env = opts.env(url);
  // The functions cut off a slow body themselves (408 after BODY_TIMEOUT_MS); the gateway is the backstop
  // for requests whose headers or body never finish, a little later so the function's answer comes first.
  const bodyTimeoutMs = Number(env.BODY_TIMEOUT_MS ?? 10_000);
  server.headersTimeout = Math.min(10_000, bodyTimeoutMs);
  server.requestTimeout = bodyTimeoutMs + 5_000;
  for (const name of names) {
    const socketPath = join(sockDir, `${name}.sock`);
    const child = spawn(
      '/bin/sh',
      [
        '-c',
        WATCHDOG,
        'deno-worker',
        deno,
        'run',
        '--cached-only',
        '--no-prompt',
        '--allow-net',
        '--allow-env',
        `--allow-read`,
        `--allow-write=${sockDir}`,
        '--config',
        join(functionsDir, name, 'deno.json'),
        join(functionsDir, name, 'index.ts'),
      ],
      {
        cwd: opts.root,
        env: {
          PATH: process.env.PATH ?? '',
          HOME: process.env.HOME ?? tmpdir(),
          ...(process.env.DENO_DIR ? { DENO_DIR: process.env.DENO_DIR } : {}),
          DENO_NO_UPDATE_CHECK: '1',
          NO_COLOR: '1',
          DENO_SERVE_ADDRESS: `unix:${socketPath}`,
          SB_EXECUTION_ID: crypto.randomUUID(),
          ...env,
        },
        stdio: ['pipe', 'pipe', 'pipe'],
      },
    );
    child.stdin?.on('error', () => {});
    const w: Worker = { name, socketPath, child, exited: false, tail: [] };
    const relay = (buf: Buffer) => {
      for (const line of buf.toString().split('\n')) {
        if (!line.trim() || line.startsWith('Listening on')) continue;
        w.tail.push(line);
        if (w.tail.length > 20) w.tail.shift();
        log(`[${name}] ${line}`);
      }
    };
    child.stdout?.on('data', relay);
    child.stderr?.on('data', relay);
    child.on('exit', (code, signal) => {
      w.exited = true;
      // Ctrl-C reaches the Deno children too (same process group); only an unexpected exit is news.
      if (!stopping && signal !== 'SIGINT' && signal !== 'SIGTERM') log(`[${name}] exited (${signal ?? code})`);
    });
    workers.set(name, w);
  }

  // Last resort: whatever way this process ends (crash, process.exit), no Deno worker outlives it.
  const killAll = () => {
    for (const w of workers.values()) if (!w.exited) w.child.kill('SIGKILL');
  };
  process.on('exit', killAll);

  const stopWorkers = async () => {
    stopping = true;
    process.off('exit', killAll);
    await Promise.all(
      [...workers.values()].map(
        (w) =>
          new Promise<void>((resolve) => {
            if (w.exited) return resolve();
            const t = setTimeout(() => w.child.kill('SIGKILL'), 3000);
            w.child.once('exit', () => {
              clearTimeout(t);
              resolve();
            });
            w.child.kill('SIGTERM');
          }),
      ),
    );
    await rm(sockDir, { recursive: true, force: true });
  };

  const stopAll = async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await stopWorkers();
  };
  try {
    await Promise.all([...workers.values()].map((w) => waitForSocket(w.socketPath, w, 90_000)));
    markReady(true);
  } catch (e) {
    markReady(false);
    await stopAll();
    throw e;
  }


  return {
    url,
    port,
    names,
    stop: stopAll,
  };
}
