/** Markdown tables, and the number formats the benchmark's tables use. */

export function markdownTable(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const line = (cells: readonly string[]): string => `| ${cells.map((cell) => cell.replace(/\|/g, "\\|")).join(" | ")} |`;
  return [line(headers), line(headers.map(() => "---")), ...rows.map(line)].join("\n");
}

export function ms(value: number): string {
  if (!Number.isFinite(value)) return "n/a";
  return value >= 100 ? `${Math.round(value)}` : value.toFixed(1);
}

export function seconds(valueMs: number): string {
  if (!Number.isFinite(valueMs)) return "n/a";
  return (valueMs / 1000).toFixed(2);
}

export function ratio(value: number): string {
  return Number.isFinite(value) ? `${value.toFixed(2)}×` : "n/a";
}

/** `a 3, b 4` from counts, in key order; `0` when empty. */
export function counts(map: ReadonlyMap<string, number>): string {
  const entries = [...map].filter(([, n]) => n !== 0).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return entries.length === 0 ? "0" : entries.map(([key, n]) => `${key} ${n}`).join(", ");
}

export function get(map: ReadonlyMap<string, number>, key: string): number {
  return map.get(key) ?? 0;
}
