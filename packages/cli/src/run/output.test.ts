import { describe, expect, it } from 'vitest';
import { formatDuration, Output } from './output.js';

function sink(isTTY = false) {
  const s = { text: '', isTTY, write: (t: string) => (s.text += t) };
  return s;
}

describe('Output', () => {
  it('draws a bar with rate and ETA on a TTY, then one summary line', () => {
    const err = sink(true);
    const out = new Output({ stderr: err, stdout: sink(), progress: true });
    const p = out.progress('epoch 1/2', 4, 'step');
    p.tick(1, 'loss 0.5');
    p.tick(3);
    p.done('loss 0.4');
    expect(err.text).toMatch(/epoch 1\/2 \[#{6}-{18}\] 1\/4 .* step\/s ETA \d+:\d\d loss 0\.5/);
    expect(err.text).toMatch(/\[#{24}\] 4\/4 .* in 0:\d\d loss 0\.4\n$/);
  });

  it('in non-TTY runs draws no bar, only the summary; quiet prints nothing; --json writes JSON lines', () => {
    const err = sink(false);
    const stdout = sink();
    const out = new Output({ stderr: err, stdout });
    expect(out.bars).toBe(false);
    const p = out.progress('eval', 2);
    p.tick();
    p.tick();
    p.done();
    expect(err.text.split('\n').filter(Boolean)).toHaveLength(1);
    const q = sink();
    const quiet = new Output({ quiet: true, stderr: q, stdout: sink() });
    quiet.progress('x', 1).done();
    quiet.info('hello');
    expect(q.text).toBe('');
    const js = sink();
    const json = new Output({ json: true, stdout: js, stderr: sink() });
    json.event('step', { step: 1, loss: 0.5 });
    json.result({ command: 'eval', miou: 0.5 }, 'human');
    expect(
      js.text
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l)),
    ).toEqual([
      { type: 'step', step: 1, loss: 0.5 },
      { type: 'result', command: 'eval', miou: 0.5 },
    ]);
  });

  it('formats durations', () => {
    expect(formatDuration(5)).toBe('0:05');
    expect(formatDuration(3725)).toBe('1:02:05');
    expect(formatDuration(Number.NaN)).toBe('--:--');
  });
});
