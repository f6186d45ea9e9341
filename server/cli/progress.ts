/** A one-line progress bar on a terminal; none (undefined) when the stream is piped or redirected. */
export function progressBar(
  out: NodeJS.WriteStream,
  label: string,
): { update(fraction: number): void; done(): void } | undefined {
  if (!out.isTTY) return undefined;
  const width = 30;
  let shown = -1;
  const draw = (fraction: number) => {
    const f = Math.max(0, Math.min(1, fraction));
    const pct = Math.floor(f * 100);
    if (pct === shown) return;
    shown = pct;
    const filled = Math.round(f * width);
    out.write(`\r${label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${String(pct).padStart(3)}%`);
  };
  draw(0);
  return {
    update: draw,
    done() {
      draw(1);
      out.write('\n');
    },
  };
}
