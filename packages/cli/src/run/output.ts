/**
 * What the CLI prints: human messages on stderr, results on stdout, progress bars with rate and ETA on a TTY
 * (nothing in non-TTY/CI runs except one summary line per loop), and with `--json` one JSON object per line on
 * stdout for every event and result (human text then stays on stderr).
 */

export interface OutputOptions {
  json?: boolean;
  quiet?: boolean;
  /** Force progress bars on or off (default: stderr is a TTY and CI is unset). */
  progress?: boolean;
  stdout?: { write(s: string): unknown };
  stderr?: { write(s: string): unknown; isTTY?: boolean };
}

/** A progress bar from {@link Output.progress}: call `tick` as work completes and `done` once at the end. */
export interface Progress {
  /** Advance by `n` (default 1); `info` is shown after the bar (e.g. the loss). */
  tick(n?: number, info?: string): void;
  /** Finish: one summary line (unless quiet). */
  done(info?: string): void;
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '--:--';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  return h > 0
    ? `${h}:${String(m).padStart(2, '0')}:${String(sec).padStart(2, '0')}`
    : `${m}:${String(sec).padStart(2, '0')}`;
}

/**
 * The CLI's printer: human messages and progress bars on stderr, results on stdout, and with `json` one JSON
 * object per line on stdout for every event and result.
 */
export class Output {
  readonly json: boolean;
  readonly quiet: boolean;
  readonly bars: boolean;
  private readonly out: { write(s: string): unknown };
  private readonly err: { write(s: string): unknown; isTTY?: boolean };
  private barShown = false;

  constructor(opts: OutputOptions = {}) {
    this.json = !!opts.json;
    this.quiet = !!opts.quiet;
    this.out = opts.stdout ?? process.stdout;
    this.err = opts.stderr ?? process.stderr;
    this.bars =
      opts.progress ?? (!this.quiet && !!(this.err as { isTTY?: boolean }).isTTY && !process.env['CI']);
  }

  private clearBar(): void {
    if (this.barShown) {
      this.err.write('\r\x1b[2K');
      this.barShown = false;
    }
  }

  /** A human message (stderr), unless quiet. */
  info(msg: string): void {
    if (this.quiet) return;
    this.clearBar();
    this.err.write(`${msg}\n`);
  }

  /** A warning (stderr), always. */
  warn(msg: string): void {
    this.clearBar();
    this.err.write(`warning: ${msg}\n`);
  }

  /** A machine-readable event: a JSON line on stdout with `--json`, nothing otherwise. */
  event(type: string, data: Record<string, unknown> = {}): void {
    if (!this.json) return;
    this.clearBar();
    this.out.write(`${JSON.stringify({ type, ...data })}\n`);
  }

  /** A command's result: JSON with `--json`, otherwise the human text on stdout. */
  result(data: Record<string, unknown>, human: string): void {
    this.clearBar();
    if (this.json) this.out.write(`${JSON.stringify({ type: 'result', ...data })}\n`);
    else this.out.write(human.endsWith('\n') ? human : `${human}\n`);
  }

  /** A progress bar over `total` units of work named `label`. */
  progress(label: string, total: number, unit = 'it'): Progress {
    const t0 = performance.now();
    let n = 0;
    let last = 0;
    let lastInfo = '';
    const draw = (final: boolean) => {
      const el = (performance.now() - t0) / 1000;
      const rate = el > 0 ? n / el : 0;
      const eta = rate > 0 ? (total - n) / rate : Number.NaN;
      const width = 24;
      const filled = total > 0 ? Math.min(width, Math.round((n / total) * width)) : 0;
      const bar = `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}]`;
      const rateText =
        rate >= 1 || rate === 0 ? `${rate.toFixed(2)} ${unit}/s` : `${(1 / rate).toFixed(2)} s/${unit}`;
      const tail = final ? `in ${formatDuration(el)}` : `ETA ${formatDuration(eta)}`;
      return `${label} ${bar} ${n}/${total} ${rateText} ${tail}${lastInfo ? ` ${lastInfo}` : ''}`;
    };
    return {
      tick: (k = 1, info) => {
        n += k;
        if (info !== undefined) lastInfo = info;
        if (!this.bars) return;
        const now = performance.now();
        if (now - last < 100 && n < total) return;
        last = now;
        this.err.write(`\r\x1b[2K${draw(false)}`);
        this.barShown = true;
      },
      done: (info) => {
        if (info !== undefined) lastInfo = info;
        this.clearBar();
        if (!this.quiet) this.err.write(`${draw(true)}\n`);
      },
    };
  }
}
