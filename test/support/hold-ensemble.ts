// Child process for the cleanup tests: starts an ensemble, reports it on stdout as one JSON line,
// then idles until killed. It never calls close(); cleanup is the fixture's safety nets' job.
import { LocalEnsemble } from '../../src/embedded/ensemble.ts';

const ensemble = await LocalEnsemble.start({ size: Number(process.argv[2] ?? 1) });
const pids = ensemble.members.map((member) => member.pid);
process.stdout.write(`${JSON.stringify({ baseDir: ensemble.baseDir, pids })}\n`);
setInterval(() => {}, 60_000);
