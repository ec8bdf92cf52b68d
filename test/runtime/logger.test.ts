import test from "ava";
import { Writable } from "node:stream";
import { createLogger, type LogFormat } from "../../src/runtime/logger.js";

function sink(isTTY: boolean): { stream: NodeJS.WritableStream & { isTTY: boolean }; text: () => string } {
  const chunks: string[] = [];
  const stream = Object.assign(
    new Writable({
      write(chunk: Buffer | string, _encoding, callback) {
        chunks.push(chunk.toString());
        callback();
      },
    }),
    { isTTY },
  );
  return { stream, text: () => chunks.join("") };
}

function logOnce(format: LogFormat, isTTY: boolean): string {
  const { stream, text } = sink(isTTY);
  createLogger({ format, destination: stream }).child({ component: "reconciler" }).info({ target: "glance-api", password: "hunter2-secret" }, "reconciled");
  return text();
}

test("json: one object per line, the secret-named field redacted", (t) => {
  const line = JSON.parse(logOnce("json", true).trim()) as Record<string, unknown>;
  t.like(line, { level: "info", msg: "reconciled", component: "reconciler", target: "glance-api", password: "[redacted]" });
});

test("text: a readable line with the time, level, component and message, still redacted", (t) => {
  const out = logOnce("text", false);
  t.regex(out, /^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: reconciler: reconciled \{"target":"glance-api","password":"\[redacted\]"\}\n$/);
  t.false(out.includes("hunter2-secret"));
});

test("auto: text on a terminal, JSON elsewhere (a pod's stderr is no terminal)", (t) => {
  t.regex(logOnce("auto", true), /INFO/);
  t.notThrows(() => JSON.parse(logOnce("auto", false)));
});
