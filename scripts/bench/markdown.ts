/**
 * The Markdown that both benchmark reports share: padded tables, the
 * machine table, and the generated section of docs/benchmarks.md that
 * --write replaces.
 */
import { readFileSync, writeFileSync } from "node:fs";
import type { RunInfo } from "./common.ts";

/** The marker lines that enclose one benchmark's generated part of docs/benchmarks.md. */
export interface ReportSection {
  start: string;
  end: string;
  /** The section as the error about missing markers names it, such as "the supervisor results". */
  name: string;
}

/**
 * Renders rows as a Markdown table with padded columns, readable as plain
 * text too. A row shorter than the header gets empty cells.
 */
export function renderTable(header: string[], rows: string[][]): string {
  const widths = header.map((cell, column) => Math.max(cell.length, ...rows.map((row) => (row[column] ?? "").length)));
  const line = (cells: string[]) => `| ${header.map((_, column) => (cells[column] ?? "").padEnd(widths[column] ?? 0)).join(" | ")} |`;
  const rule = `|${widths.map((width) => "-".repeat(width + 2)).join("|")}|`;
  return [line(header), rule, ...rows.map(line)].join("\n");
}

/** Renders the machine table; floorName is the report's name for the compiled Bun program it measures. */
export function renderMachineTable(info: RunInfo, floorName: string): string {
  return renderTable(
    ["machine", ""],
    [
      ["CPU", `${info.cpuModel}, ${info.cpuCount} CPUs (nproc)`],
      ["memory", info.memory],
      ["kernel", info.kernel],
      ["load average at the start", `${info.loadAverage} (1 minute)`],
      ["Bun", `${info.bunVersion}, which runs the benchmark and is compiled into build/tinyd and ${floorName}`],
    ],
  );
}

/** Returns the offsets of the section's marker lines in text, or throws when either is missing. */
function findSection(path: string, text: string, section: ReportSection): { start: number; end: number } {
  const start = text.indexOf(section.start);
  const end = text.indexOf(section.end);
  if (start === -1 || end === -1 || end < start) {
    throw new Error(`${path} lacks the marker lines ${section.start} and ${section.end}. Add them around ${section.name}.`);
  }
  return { start, end };
}

/** Throws when the file at path cannot be read or lacks the section's marker lines, so --write fails before the measurements. */
export function checkReportSection(path: string, section: ReportSection): void {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    throw new Error(`cannot read ${path} for --write: ${(error as Error).message}`);
  }
  findSection(path, text, section);
}

/**
 * Replaces the text between the section's marker lines in the file at path
 * with report. Throws when the file or a marker line is missing.
 */
export function writeReportSection(path: string, section: ReportSection, report: string): void {
  const text = readFileSync(path, "utf8");
  const { start, end } = findSection(path, text, section);
  writeFileSync(path, `${text.slice(0, start + section.start.length)}\n\n${report}\n\n${text.slice(end)}`);
}
