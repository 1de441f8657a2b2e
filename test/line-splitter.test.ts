/**
 * Tests of the supervisor's line splitter in-process: whole lines out, the
 * partial rest kept, and no line longer than MAX_LINE_BYTES.
 */
import { describe, expect, test } from "bun:test";
import { LineSplitter, MAX_LINE_BYTES } from "../src/supervisor/output";

/** Feeds `chunks` through a splitter and returns the lines it emits, flush included. */
function split(chunks: Uint8Array[]): string[] {
  const splitter = new LineSplitter();
  const out: Buffer[] = [];
  for (const chunk of chunks) {
    const lines = splitter.push(chunk);
    if (lines) out.push(lines);
  }
  const rest = splitter.flush();
  if (rest) out.push(rest);
  const lines = Buffer.concat(out).toString("latin1").split("\n");
  expect(lines.pop()).toBe("");
  return lines;
}

const bytes = (count: number) => Buffer.alloc(count, 0x61);
const text = (value: string) => Buffer.from(value);

describe("LineSplitter", () => {
  test("lines across chunks stay whole", () => {
    expect(split([text("one\ntw"), text("o\nthr"), text("ee"), text("\n")])).toEqual(["one", "two", "three"]);
  });

  test("partial last line is flushed", () => {
    expect(split([text("done\nno newline")])).toEqual(["done", "no newline"]);
  });

  const cases: [string, Uint8Array[]][] = [
    ["endless line in small chunks", [bytes(16384), bytes(65536), bytes(65536), bytes(20000)]],
    ["long line ending in a later chunk", [bytes(100), Buffer.concat([bytes(70000), text("\n"), bytes(10)]), text("x\n")]],
    ["long line inside one chunk", [Buffer.concat([bytes(200000), text("\nshort\n")])]],
  ];
  for (const [name, chunks] of cases) {
    test(`${name} is cut, nothing lost`, () => {
      const lines = split(chunks);
      for (const line of lines) expect(line.length).toBeLessThanOrEqual(MAX_LINE_BYTES);
      expect(lines.join("")).toBe(Buffer.concat(chunks).toString("latin1").replaceAll("\n", ""));
    });
  }
});
