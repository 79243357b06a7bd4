import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const bin = fileURLToPath(new URL('../bin/wsss.mjs', import.meta.url));
const dist = fileURLToPath(new URL('../dist/main.js', import.meta.url));

describe('bin/wsss.mjs (built CLI)', () => {
  it.skipIf(!existsSync(dist))(
    'prints the full help with exit codes and exits 0; unknown commands exit 2',
    () => {
      const r = spawnSync(process.execPath, [bin, '--help'], { encoding: 'utf8' });
      expect(r.status).toBe(0);
      for (const c of ['train', 'eval', 'infer', 'pseudo-labels', 'demo', 'bench', 'export'])
        expect(r.stdout).toContain(c);
      expect(r.stdout).toContain('Exit codes');
      const bad = spawnSync(process.execPath, [bin, 'frobnicate'], { encoding: 'utf8' });
      expect(bad.status).toBe(2);
      expect(bad.stderr).toContain("unknown command 'frobnicate'");
    },
  );
});

describe('demoVerdict', () => {
  it('says whether the time is within the budget and whether the mIoU target is met, separately', async () => {
    const { demoVerdict } = await import('./main.js');
    expect(demoVerdict(368, 0.652)).toBe('OVER the 330 s budget by 38 s; mIoU target (≥ 60%) met');
    expect(demoVerdict(329.6, 0.59)).toBe('within the 330 s budget; mIoU target (≥ 60%) NOT met');
  });
});
