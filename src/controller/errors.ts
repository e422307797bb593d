/** The answers an operation can give besides success; the CLI and the HTTP API map them to exit codes and statuses. */

/** The request is wrong (HTTP 400, exit 2); every problem is listed. */
export class ValidationError extends Error {
  readonly problems: string[];
  constructor(problems: string[]) {
    super(problems.join('; '));
    this.name = 'ValidationError';
    this.problems = problems;
  }
}

/** No such tenant (HTTP 404, exit 3). */
export class NotFoundError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NotFoundError';
  }
}

/** The request contradicts the current state (HTTP 409, exit 4): tenant exists, cluster deployed, port taken. */
export class ConflictError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConflictError';
  }
}
