/**
 * Four-letter words on a tenant listener. Only `ruok` is answered (imok, when the ensemble is
 * reachable): every other word would describe the shared ensemble or other tenants' sessions.
 */
import type { Socket } from 'node:net';

export function answerFourLetterWord(word: string, socket: Socket, ensembleReachable: () => Promise<boolean>): void {
  if (word !== 'ruok') {
    socket.end(`zookeeper-proxy: "${word}" is not available on a tenant listener\n`);
    return;
  }
  ensembleReachable().then(
    (reachable) => (reachable ? socket.end('imok') : socket.end()),
    () => socket.end(),
  );
}
