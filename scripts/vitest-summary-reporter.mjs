// Prints the plain closing line `Tests: N passed, N failed, N skipped` at the very end of a vitest run, so tools
// that do not parse vitest's own summary still see the counts.
function count(tasks, counts) {
  for (const t of tasks) {
    if (t.type === 'test') {
      const state = t.result?.state;
      if (state === 'pass') counts.passed++;
      else if (state === 'fail') counts.failed++;
      else counts.skipped++;
    } else if (t.tasks) count(t.tasks, counts);
  }
}

export default class SummaryReporter {
  onFinished(files = []) {
    const counts = { passed: 0, failed: 0, skipped: 0 };
    count(files, counts);
    // A file that failed to load has no tests but must still count as a failure.
    for (const f of files) if (f.result?.state === 'fail' && !f.tasks?.length) counts.failed++;
    setImmediate(() =>
      process.stdout.write(
        `\nTests: ${counts.passed} passed, ${counts.failed} failed, ${counts.skipped} skipped\n`,
      ),
    );
  }
}
