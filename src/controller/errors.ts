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

/** Runs several checks and gathers the problems of all of them, so that a refusal lists every problem at once. */
export class ProblemList {
  readonly problems: string[] = [];

  /** The check's result, or undefined when it threw a ValidationError (whose problems are kept). */
  check<T>(check: () => T): T | undefined {
    try {
      return check();
    } catch (error) {
      if (!(error instanceof ValidationError)) throw error;
      this.problems.push(...error.problems);
      return undefined;
    }
  }

  throwIfAny(): void {
    if (this.problems.length > 0) throw new ValidationError(this.problems);
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

/** Nothing that could serve the request answers now (HTTP 503, exit 1): e.g. no ensemble reachable to place a tenant on. */
export class UnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnavailableError';
  }
}
