/**
 * The cut-over of a move between ensembles (docs/ensembles.md) as this process sees it: while
 * `active`, the tenant's sessions forward nothing (requests and handshakes wait). Shared by the
 * tenant's sessions, so that starting or ending a hold costs no lookup on the request path.
 */
export class MoveHold {
  /** The tenant's entry says `hold: true`. */
  active = false;
  /** Held longer than moveHoldMaxMs: the connections were closed, new ones are closed at once. */
  expired = false;
  /** Backend handshakes of the tenant under way (a ConnectRequest in flight to the ensemble). */
  handshakes = 0;
}
