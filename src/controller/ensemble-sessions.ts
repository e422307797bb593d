/**
 * The controller's sessions with the ensembles tenants live on: the home ensemble's session is the
 * one the controller already keeps (desired state, registry, election); every other ensemble gets
 * its own session, authenticated as that ensemble's admin, opened when a tenant there first needs
 * it and opened again after it is lost.
 */
import type { JuteClient } from 'jute-ts/client';
import { ValidationError } from './errors.ts';
import type { ControllerEnsemble } from './settings.ts';
import { connectEnsemble } from './zookeeper.ts';

export class EnsembleSessions {
  readonly ensembles: readonly ControllerEnsemble[];
  readonly home: JuteClient;
  private readonly sessionTimeoutMs: number;
  private readonly sessions = new Map<string, Promise<JuteClient>>();
  private closed = false;

  constructor(ensembles: readonly ControllerEnsemble[], home: JuteClient, sessionTimeoutMs: number) {
    this.ensembles = ensembles;
    this.home = home;
    this.sessionTimeoutMs = sessionTimeoutMs;
  }

  get homeName(): string {
    return this.ensembles[0]!.name;
  }

  get names(): string[] {
    return this.ensembles.map((ensemble) => ensemble.name);
  }

  /** The configured ensemble `name`; a ValidationError naming the configured ones otherwise. */
  ensemble(name: string): ControllerEnsemble {
    const found = this.ensembles.find((ensemble) => ensemble.name === name);
    if (found === undefined)
      throw new ValidationError([`ensemble ${JSON.stringify(name)} is not configured (configured: ${this.names.join(', ')})`]);
    return found;
  }

  /** The name of the ensemble holding a tenant's tree: records made before placement existed live on home. */
  of(record: { ensemble?: string | undefined }): string {
    return record.ensemble ?? this.homeName;
  }

  /** A session with ensemble `name`, authenticated as its admin. */
  async session(name: string): Promise<JuteClient> {
    const ensemble = this.ensemble(name);
    if (name === this.homeName) return this.home;
    if (this.closed) throw new Error('the controller is closing its sessions');
    const current = this.sessions.get(name);
    if (current !== undefined) {
      const client = await current.catch(() => undefined);
      if (client !== undefined && !client.closed) return client;
      // Another caller may have begun a new session meanwhile: use that one.
      if (this.sessions.get(name) !== current) return this.session(name);
    }
    const opening = connectEnsemble(ensemble.members, ensemble.admin, this.sessionTimeoutMs).catch((error: unknown) => {
      throw new Error(`ensemble "${name}": ${(error as Error).message}`);
    });
    this.sessions.set(name, opening);
    opening.catch(() => {
      if (this.sessions.get(name) === opening) this.sessions.delete(name);
    });
    return opening;
  }

  /** Closes the sessions this object opened (the home session belongs to its owner). */
  async close(): Promise<void> {
    this.closed = true;
    const opened = [...this.sessions.values()];
    this.sessions.clear();
    await Promise.all(opened.map((opening) => opening.then((client) => client.close()).catch(() => {})));
  }
}
