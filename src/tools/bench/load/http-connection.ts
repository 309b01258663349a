import net from 'node:net';
import type { HttpRequestSpec } from './types.ts';

/**
 * One keep-alive HTTP/1.1 connection with the smallest response parser that reads what
 * Fastify sends (status line, headers, Content-Length or chunked body). The open-loop
 * generator holds thousands of these; node:http's Agent would add per-request objects
 * and hide when a socket really is free.
 */
export interface ResponseInfo {
  readonly status: number;
  readonly bytes: number;
  /** The start of the body of an answer that is not 2xx (its error code says why), for the report's samples. */
  readonly errorBody?: string;
}

type Pending = { readonly resolve: (r: ResponseInfo) => void; readonly reject: (e: Error) => void };

const HEADER_END = Buffer.from('\r\n\r\n');

export class HttpConnection {
  readonly #socket: net.Socket;
  #buf: Buffer = Buffer.alloc(0);
  #pending: Pending | undefined;
  #closed = false;
  #connected: Promise<void>;

  constructor(readonly host: string, readonly port: number) {
    this.#socket = net.connect({ host, port, noDelay: true });
    this.#socket.setKeepAlive(true, 30_000);
    this.#connected = new Promise((resolve, reject) => {
      this.#socket.once('connect', () => resolve());
      this.#socket.once('error', reject);
    });
    this.#connected.catch(() => undefined);
    this.#socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    this.#socket.on('error', (err) => this.#fail(err));
    this.#socket.on('close', () => this.#fail(new Error('connection closed by server')));
  }

  get busy(): boolean { return this.#pending !== undefined; }
  get closed(): boolean { return this.#closed; }

  connect(): Promise<void> { return this.#connected; }

  send(req: HttpRequestSpec): Promise<ResponseInfo> {
    if (this.#closed) return Promise.reject(new Error('connection closed'));
    if (this.#pending) return Promise.reject(new Error('connection busy'));
    const body = req.body === undefined ? undefined : Buffer.from(req.body);
    let head = `${req.method} ${req.path} HTTP/1.1\r\nHost: ${this.host}:${this.port}\r\nConnection: keep-alive\r\n`;
    for (const [k, v] of Object.entries(req.headers)) head += `${k}: ${v}\r\n`;
    if (body) head += `Content-Length: ${body.length}\r\n`;
    head += '\r\n';
    return new Promise<ResponseInfo>((resolve, reject) => {
      this.#pending = { resolve, reject };
      this.#socket.write(body ? Buffer.concat([Buffer.from(head), body]) : head);
    });
  }

  close(): void {
    this.#closed = true;
    this.#socket.destroy();
  }

  /** Gives up on the request in flight (a timeout): it fails with `reason`, the socket closes. */
  abort(reason: Error): void {
    this.#fail(reason);
    this.#socket.destroy();
  }

  #fail(err: Error): void {
    this.#closed = true;
    const p = this.#pending;
    this.#pending = undefined;
    p?.reject(err);
  }

  #onData(chunk: Buffer): void {
    this.#buf = this.#buf.length === 0 ? chunk : Buffer.concat([this.#buf, chunk]);
    for (;;) {
      const parsed = parseResponse(this.#buf);
      if (parsed === undefined) return;
      if (parsed instanceof Error) { this.#socket.destroy(); this.#fail(parsed); return; }
      const p = this.#pending;
      this.#pending = undefined;
      const failed = parsed.status < 200 || parsed.status > 299;
      p?.resolve(failed
        ? { status: parsed.status, bytes: parsed.consumed, errorBody: this.#buf.toString('utf8', parsed.bodyStart, Math.min(parsed.consumed, parsed.bodyStart + 160)) }
        : { status: parsed.status, bytes: parsed.consumed });
      this.#buf = this.#buf.subarray(parsed.consumed);
      if (parsed.close) { this.#socket.end(); this.#closed = true; return; }
    }
  }
}

interface Parsed { readonly status: number; readonly consumed: number; readonly bodyStart: number; readonly close: boolean }

/** Parses one complete response at the start of `buf`; undefined when more bytes are needed. */
export function parseResponse(buf: Buffer): Parsed | Error | undefined {
  const headEnd = buf.indexOf(HEADER_END);
  if (headEnd < 0) return buf.length > 64 * 1024 ? new Error('response header too large') : undefined;
  const head = buf.toString('latin1', 0, headEnd);
  const lines = head.split('\r\n');
  const statusMatch = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '');
  if (!statusMatch) return new Error(`bad status line: ${lines[0] ?? ''}`);
  let length = -1;
  let chunked = false;
  let close = false;
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i] ?? '';
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim().toLowerCase();
    if (name === 'content-length') length = Number(value);
    else if (name === 'transfer-encoding') chunked = value.includes('chunked');
    else if (name === 'connection') close = value === 'close';
  }
  const bodyStart = headEnd + 4;
  if (chunked) {
    let pos = bodyStart;
    for (;;) {
      const lineEnd = buf.indexOf('\r\n', pos, 'latin1');
      if (lineEnd < 0) return undefined;
      const size = parseInt(buf.toString('latin1', pos, lineEnd), 16);
      if (Number.isNaN(size)) return new Error('bad chunk size');
      const next = lineEnd + 2 + size + 2;
      if (buf.length < next) return undefined;
      pos = next;
      if (size === 0) return { status: Number(statusMatch[1]), consumed: pos, bodyStart, close };
    }
  }
  const bodyLength = length < 0 ? 0 : length;
  if (buf.length < bodyStart + bodyLength) return undefined;
  return { status: Number(statusMatch[1]), consumed: bodyStart + bodyLength, bodyStart, close };
}
