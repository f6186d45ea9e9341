// Download progress for the terminal: one redrawn line on a TTY, a few plain lines in logs and pipes.

export interface Progress {
  file: string;
  received: number;
  total: number | null;
}

function formatBytes(n: number): string {
  if (n < 1e3) return `${n} B`;
  if (n < 1e6) return `${(n / 1e3).toFixed(1)} kB`;
  if (n < 1e9) return `${(n / 1e6).toFixed(1)} MB`;
  return `${(n / 1e9).toFixed(2)} GB`;
}

const BAR_WIDTH = 24;
const UNKNOWN_STEP = 1 << 20; // redraw every MiB when the size is unknown

export function progressBar(stream: NodeJS.WriteStream = process.stderr): (p: Progress) => void {
  let file: string | null = null;
  let lastMark = -1; // per-mille on a TTY, quarter in plain mode, MiB when the total is unknown
  let lineOpen = false;

  if (stream.isTTY) {
    return (p) => {
      if (p.file !== file) {
        if (lineOpen) stream.write('\n');
        file = p.file;
        lastMark = -1;
      }
      const mark =
        p.total !== null && p.total > 0
          ? Math.floor((Math.min(p.received, p.total) / p.total) * 1000)
          : Math.floor(p.received / UNKNOWN_STEP);
      // Redraw only on visible change; progress arrives per network chunk.
      if (mark === lastMark) return;
      lastMark = mark;
      let line: string;
      if (p.total !== null && p.total > 0) {
        const frac = Math.min(p.received, p.total) / p.total;
        const filled = Math.round(frac * BAR_WIDTH);
        const bar = '#'.repeat(filled) + '-'.repeat(BAR_WIDTH - filled);
        const pct = (frac * 100).toFixed(1).padStart(5);
        line = `${p.file} [${bar}] ${pct}% ${formatBytes(p.received)} / ${formatBytes(p.total)}`;
      } else {
        line = `${p.file} ${formatBytes(p.received)}`;
      }
      const width = stream.columns && stream.columns > 10 ? stream.columns - 1 : line.length;
      stream.write(`\r\x1b[K${line.length > width ? line.slice(line.length - width) : line}`);
      lineOpen = true;
      if (p.total !== null && p.received >= p.total) {
        stream.write('\n');
        lineOpen = false;
        file = null;
      }
    };
  }

  return (p) => {
    if (p.file !== file) {
      file = p.file;
      lastMark = -1;
      if (p.total === null) stream.write(`${p.file}: downloading (size unknown)\n`);
    }
    if (p.total === null || p.total <= 0) return;
    const quarter = Math.floor((Math.min(p.received, p.total) / p.total) * 4);
    if (quarter <= lastMark || quarter === 0) return;
    lastMark = quarter;
    stream.write(`${p.file}: ${quarter * 25}% (${formatBytes(p.received)} of ${formatBytes(p.total)})\n`);
  };
}
