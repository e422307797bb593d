/**
 * Four-letter admin words. A server checks the first 4 bytes of a connection that has not sent
 * its ConnectRequest: read as a big-endian int they are far above any legal frame length, so a
 * frame reader sees them as an oversized length and can ask this table what they were.
 */
export const FOUR_LETTER_WORDS = [
  'ruok',
  'stat',
  'srvr',
  'conf',
  'cons',
  'crst',
  'dump',
  'envi',
  'gtmk',
  'stmk',
  'srst',
  'wchc',
  'wchp',
  'wchs',
  'mntr',
  'isro',
  'hash',
  'dirs',
] as const;

export type FourLetterWord = (typeof FOUR_LETTER_WORDS)[number];

const byValue = new Map<number, FourLetterWord>(FOUR_LETTER_WORDS.map((word) => [Buffer.from(word, 'latin1').readInt32BE(0), word]));

/** The word whose ASCII bytes, read as a big-endian int32, equal `length`; undefined otherwise. */
export function fourLetterWordOf(length: number): FourLetterWord | undefined {
  return byValue.get(length);
}
