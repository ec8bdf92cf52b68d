/**
 * The fault proxy's HTTP status mode against a plain node:http server on
 * loopback: answers without reaching the service, on kept-alive
 * connections too, and lets traffic through again when switched back.
 */
import test from "ava";
import { createServer, type Server } from "node:http";
import { once } from "node:events";
import type { AddressInfo } from "node:net";
import { Agent, request } from "undici";
import { startFaultProxy } from "../../src/devstack/fault-proxy.js";
import { PortAllocator } from "../../src/devstack/ports.js";

async function upstream(): Promise<{ server: Server; port: number; hits: () => number }> {
  let hits = 0;
  const server = createServer((req, res) => {
    hits++;
    req.resume();
    res.end(JSON.stringify({ path: req.url }));
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return { server, port: (server.address() as AddressInfo).port, hits: () => hits };
}

test("status mode answers every request with the status, on kept-alive connections, and pass mode reaches the service again", async (t) => {
  const service = await upstream();
  const ports = new PortAllocator();
  const proxy = await startFaultProxy({ listenPort: await ports.allocate(), targetPort: service.port });
  const agent = new Agent({ keepAliveTimeout: 30_000, connections: 1 });
  const once = async (path: string, method: "GET" | "POST") => {
    const response = await request(`${proxy.url}${path}`, { dispatcher: agent, method, ...(method === "POST" ? { body: JSON.stringify({ x: "y".repeat(5000) }) } : {}) });
    return { status: response.statusCode, body: await response.body.text() };
  };
  // A mode switch cuts the kept-alive connection; a client that reused it before seeing the close tries again, as HTTP clients do.
  const get = async (path: string, method: "GET" | "POST" = "GET") => {
    try {
      return await once(path, method);
    } catch (error) {
      if ((error as { code?: string }).code !== "UND_ERR_SOCKET") throw error;
      return once(path, method);
    }
  };
  try {
    t.is((await get("/a")).status, 200);
    const connectionsBefore = proxy.stats().connections;
    await proxy.setMode({ kind: "status", status: 500 });
    const answers = [await get("/b"), await get("/c", "POST"), await get("/d")];
    t.deepEqual(answers.map((a) => a.status), [500, 500, 500]);
    t.regex(answers[0]!.body, /injected by the fault proxy/);
    t.is(service.hits(), 1, "nothing reached the service");
    t.is(proxy.stats().statusAnswers, 3);
    t.is(proxy.stats().connections - connectionsBefore, 1, "the three requests shared one kept-alive connection (the one open before was cut)");
    await proxy.setMode({ kind: "status", status: 503, body: "{}" });
    t.deepEqual(await get("/e"), { status: 503, body: "{}" });
    await proxy.setMode({ kind: "pass" });
    t.deepEqual(await get("/f"), { status: 200, body: JSON.stringify({ path: "/f" }) });
    t.is(service.hits(), 2);
  } finally {
    await agent.close();
    await proxy.close();
    service.server.close();
    ports.releaseAll();
  }
});
