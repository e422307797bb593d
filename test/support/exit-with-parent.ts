/**
 * Preloaded (node --import) into proxy processes that tests spawn: they exit when the test process
 * that owns their stdin pipe goes away, even by SIGKILL, so no proxy outlives a test run.
 */
process.stdin.on('end', () => process.exit(0));
process.stdin.on('error', () => process.exit(0));
process.stdin.resume();
// stdin must not keep the event loop alive on its own: the proxy's servers do that.
(process.stdin as unknown as { unref?: () => void }).unref?.();
