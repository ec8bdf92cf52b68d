/**
 * Durations as Kubernetes tools write them (Go's time.ParseDuration):
 * `5m`, `30s`, `1h30m`, `500ms`. A bare number is refused: its unit would be a guess.
 */
const UNITS: Readonly<Record<string, number>> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };

export function parseDuration(text: string, flag: string): number {
  const trimmed = text.trim();
  const parts = [...trimmed.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)];
  const consumed = parts.map((part) => part[0]).join("");
  if (trimmed === "" || parts.length === 0 || consumed !== trimmed) {
    throw new Error(`${flag} ${JSON.stringify(text)} is not a duration: write it like 30s, 5m, 1h30m or 500ms`);
  }
  return Math.round(parts.reduce((total, part) => total + Number(part[1]) * (UNITS[part[2] as string] ?? 0), 0));
}
