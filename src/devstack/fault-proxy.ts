import { readFile } from "node:fs/promises";
import { createServer as createHttpServer, STATUS_CODES } from "node:http";
import { connect, createServer as createTcpServer, Socket, type Server } from "node:net";
import { pipeline, Transform } from "node:stream";
import { createServer as createTlsServer, type TLSSocket } from "node:tls";
import type { CertificateFiles } from "./certs.js";

/**
 * A TCP proxy on 127.0.0.1 that puts faults between a client and a real
 * service: the service stays real, only the path to it misbehaves. The mode
 * can be switched at any time; tests read the counters to see what reached
 * the wire.
 */

export type FaultMode =
  /** Forward everything unchanged. */
  | { readonly kind: "pass" }
  /**
   * Wait `connectMs` before opening the upstream connection, and `chunkMs`
   * before forwarding each chunk: both ways, or with `direction: "responses"`
   * only from the service back (a service slow to answer; requests reach it
   * at once, so it does not close the connection as idle meanwhile).
   */
  | { readonly kind: "delay"; readonly connectMs?: number; readonly chunkMs?: number; readonly direction?: "both" | "responses" }
  /** Accept connections and never answer (a hung server or a black hole after the handshake). */
  | { readonly kind: "drop" }
  /** Stop listening: connecting fails with ECONNREFUSED. */
  | { readonly kind: "refuse" }
  /** Accept, then reset the connection at once. */
  | { readonly kind: "reset" }
  /**
   * Speak HTTP/1.1 to the client and answer every request with `status`
   * (and `body`, JSON by default) without reaching the service, keeping the
   * connection alive: a load balancer or a broken service that fails fast.
   * Open connections are cut on entering and on leaving this mode, so no
   * kept-alive client slips past it either way.
   */
  | { readonly kind: "status"; readonly status: number; readonly body?: string };

export interface FaultProxyStats {
  /** Connections accepted (after the TLS handshake for the TLS variant). */
  readonly connections: number;
  /** Connections open now. */
  readonly active: number;
  readonly bytesToTarget: number;
  readonly bytesFromTarget: number;
  /** TLS handshakes that failed (the client refused the certificate, or spoke plain TCP). */
  readonly tlsFailures: number;
  /** HTTP requests answered in `status` mode. */
  readonly statusAnswers: number;
}

export interface FaultProxy {
  readonly port: number;
  /** http://127.0.0.1:<port>, or https:// for the TLS variant. */
  readonly url: string;
  readonly mode: FaultMode;
  /** Applies to new connections; drop, reset and refuse also cut the open ones (keep-alive must not slip past a fault). */
  setMode(mode: FaultMode): Promise<void>;
  stats(): FaultProxyStats;
  resetStats(): void;
  /** Cuts every open connection. */
  closeConnections(): void;
  close(): Promise<void>;
}

export interface FaultProxyOptions {
  readonly listenPort: number;
  readonly targetPort: number;
  readonly targetHost?: string;
  readonly mode?: FaultMode;
  /** Serve TLS with this certificate and forward plain TCP (a TLS-terminating load balancer). */
  readonly tls?: CertificateFiles;
}

export async function startFaultProxy(options: FaultProxyOptions): Promise<FaultProxy> {
  const targetHost = options.targetHost ?? "127.0.0.1";
  const tlsMaterial = options.tls === undefined ? undefined : { cert: await readFile(options.tls.certFile), key: await readFile(options.tls.keyFile) };
  let mode: FaultMode = options.mode ?? { kind: "pass" };
  let closed = false;
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  let stats = { connections: 0, bytesToTarget: 0, bytesFromTarget: 0, tlsFailures: 0, statusAnswers: 0 };

  // Never listens: connections are handed to it in `status` mode, so Node's own HTTP parser frames the requests.
  const statusServer = createHttpServer({ keepAlive: true }, (request, response) => {
    request.resume();
    request.once("end", () => {
      const current = mode.kind === "status" ? mode : { status: 503, body: undefined };
      const body = current.body ?? JSON.stringify({ error: { code: current.status, title: STATUS_CODES[current.status] ?? "Error", message: "injected by the fault proxy" } });
      stats.statusAnswers++;
      response.writeHead(current.status, { "content-type": "application/json", "content-length": Buffer.byteLength(body), connection: "keep-alive" });
      response.end(body);
    });
  });
  statusServer.keepAliveTimeout = 60_000;

  const later = (ms: number, action: () => void): void => {
    const timer = setTimeout(() => {
      timers.delete(timer);
      action();
    }, ms);
    timers.add(timer);
  };

  const track = (socket: Socket): void => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
    // Errors end the connection; the counterpart is destroyed by pipeline or below.
    socket.on("error", () => {});
  };

  const chunkDelay = (toTarget: boolean): number =>
    mode.kind === "delay" && !(toTarget && mode.direction === "responses") ? (mode.chunkMs ?? 0) : 0;

  const delaying = (toTarget: boolean, count: (bytes: number) => void): Transform =>
    new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        count(chunk.length);
        const ms = chunkDelay(toTarget);
        if (ms > 0) later(ms, () => callback(null, chunk));
        else callback(null, chunk);
      },
    });

  const forward = (client: Socket): void => {
    const upstream = connect({ host: targetHost, port: options.targetPort });
    track(upstream);
    upstream.once("error", () => client.destroy());
    upstream.once("connect", () => {
      // Two pipelines through one duplex, plus the listeners a TLSSocket keeps itself, pass Node's leak warning at 10: they are bounded per connection.
      client.setMaxListeners(32);
      upstream.setMaxListeners(32);
      const done = (): void => {
        client.destroy();
        upstream.destroy();
      };
      // Requests: piped, not pipelined, so that the service closing its end
      // first (e.g. after an answer the proxy still holds back) does not
      // destroy the client before that answer is delivered.
      const requests = delaying(true, (n) => (stats.bytesToTarget += n));
      requests.on("error", done);
      client.pipe(requests).pipe(upstream);
      client.once("close", () => upstream.destroy());
      // Answers: when they end (the service closed, everything delivered) or fail, both sides go.
      pipeline(upstream, delaying(false, (n) => (stats.bytesFromTarget += n)), client, done);
    });
  };

  const handle = (client: Socket): void => {
    track(client);
    stats.connections++;
    const current = mode;
    switch (current.kind) {
      case "reset":
        if (typeof (client as Socket & { resetAndDestroy?: () => void }).resetAndDestroy === "function" && !("encrypted" in client)) client.resetAndDestroy();
        else client.destroy();
        return;
      case "drop":
        // Read and count, so the client's writes succeed, and never answer.
        client.on("data", (chunk: Buffer) => (stats.bytesToTarget += chunk.length));
        return;
      case "refuse":
        client.destroy();
        return;
      case "status":
        statusServer.emit("connection", client);
        return;
      case "pass":
        forward(client);
        return;
      case "delay":
        client.pause();
        if ((current.connectMs ?? 0) > 0) later(current.connectMs ?? 0, () => (client.destroyed ? undefined : forward(client)));
        else forward(client);
        return;
    }
  };

  let server: Server;
  const makeServer = (): Server => {
    if (tlsMaterial === undefined) {
      const plain = createTcpServer(handle);
      return plain;
    }
    const secure = createTlsServer({ cert: tlsMaterial.cert, key: tlsMaterial.key }, (socket: TLSSocket) => handle(socket));
    secure.on("tlsClientError", (_error, socket) => {
      stats.tlsFailures++;
      socket.destroy();
    });
    // Raw sockets before the handshake: tracked so close() can cut a handshake in progress.
    secure.on("connection", (socket: Socket) => track(socket));
    return secure;
  };

  const listen = async (): Promise<void> => {
    server = makeServer();
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen({ host: "127.0.0.1", port: options.listenPort }, () => {
        server.off("error", reject);
        resolve();
      });
    });
  };

  const stopListening = async (): Promise<void> => {
    const current = server;
    if (!current.listening) return;
    await new Promise<void>((resolve) => current.close(() => resolve()));
  };

  const closeConnections = (): void => {
    for (const socket of sockets) socket.destroy();
    sockets.clear();
  };

  await listen();
  const scheme = tlsMaterial === undefined ? "http" : "https";

  return {
    port: options.listenPort,
    url: `${scheme}://127.0.0.1:${options.listenPort}`,
    get mode() {
      return mode;
    },
    async setMode(next: FaultMode): Promise<void> {
      if (closed) throw new Error("the fault proxy is closed");
      const previous = mode;
      mode = next;
      if (next.kind === "drop" || next.kind === "reset" || next.kind === "refuse" || next.kind === "status" || previous.kind === "status") closeConnections();
      if (next.kind === "refuse" && previous.kind !== "refuse") {
        // close() waits for open connections; they were cut just above.
        const stopping = stopListening();
        closeConnections();
        await stopping;
      } else if (next.kind !== "refuse" && previous.kind === "refuse") {
        await listen();
      }
    },
    stats: () => ({ ...stats, active: sockets.size }),
    resetStats: () => {
      stats = { connections: 0, bytesToTarget: 0, bytesFromTarget: 0, tlsFailures: 0, statusAnswers: 0 };
    },
    closeConnections,
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      const stopping = stopListening();
      closeConnections();
      await stopping;
    },
  };
}
