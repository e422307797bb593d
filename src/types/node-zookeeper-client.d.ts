// node-zookeeper-client 1.x ships no type declarations. This covers the part of its API the
// fixture and the tests use; extend it rather than adding a second `declare module`.
declare module 'node-zookeeper-client' {
  import type { EventEmitter } from 'node:events';

  namespace zookeeper {
    interface Stat {
      czxid: Buffer;
      mzxid: Buffer;
      ctime: Buffer;
      mtime: Buffer;
      version: number;
      cversion: number;
      aversion: number;
      ephemeralOwner: Buffer;
      dataLength: number;
      numChildren: number;
      pzxid: Buffer;
    }

    class Id {
      constructor(scheme: string, id: string);
      scheme: string;
      id: string;
      static readonly ANYONE_ID_UNSAFE: Id;
      static readonly AUTH_IDS: Id;
    }

    class ACL {
      constructor(permission: number, id: Id);
      permission: number;
      id: Id;
      static readonly OPEN_ACL_UNSAFE: ACL[];
      static readonly CREATOR_ALL_ACL: ACL[];
      static readonly READ_ACL_UNSAFE: ACL[];
    }

    interface State {
      name: string;
      code: number;
      getName(): string;
      getCode(): number;
    }

    interface Event {
      type: number;
      name: string;
      path: string | undefined;
      getType(): number;
      getName(): string;
      getPath(): string;
    }

    /** Raised by the library for server error codes; `code` is ZooKeeper's KeeperException code. */
    class Exception extends Error {
      code: number;
      path: string | undefined;
      getCode(): number;
      getName(): string;
      getPath(): string | undefined;
      /** The library's factory; it looks this up at call time, so it can be wrapped. */
      static create(code: number, path?: string): Exception;
      static readonly OK: 0;
      static readonly SYSTEM_ERROR: -1;
      static readonly RUNTIME_INCONSISTENCY: -2;
      static readonly DATA_INCONSISTENCY: -3;
      static readonly CONNECTION_LOSS: -4;
      static readonly MARSHALLING_ERROR: -5;
      static readonly UNIMPLEMENTED: -6;
      static readonly OPERATION_TIMEOUT: -7;
      static readonly BAD_ARGUMENTS: -8;
      static readonly API_ERROR: -100;
      static readonly NO_NODE: -101;
      static readonly NO_AUTH: -102;
      static readonly BAD_VERSION: -103;
      static readonly NO_CHILDREN_FOR_EPHEMERALS: -108;
      static readonly NODE_EXISTS: -110;
      static readonly NOT_EMPTY: -111;
      static readonly SESSION_EXPIRED: -112;
      static readonly INVALID_CALLBACK: -113;
      static readonly INVALID_ACL: -114;
      static readonly AUTH_FAILED: -115;
    }

    type Callback<T> = (error: Exception | Error | null, result: T) => void;
    type Watcher = (event: Event) => void;

    interface Transaction {
      create(path: string, data?: Buffer | null, acls?: ACL[], mode?: number): Transaction;
      setData(path: string, data: Buffer | null, version?: number): Transaction;
      check(path: string, version?: number): Transaction;
      remove(path: string, version?: number): Transaction;
      commit(callback: Callback<Array<{ type: number; path?: string; stat?: Stat; err?: number }>>): void;
    }

    interface ClientOptions {
      sessionTimeout?: number;
      spinDelay?: number;
      retries?: number;
    }

    interface Client extends EventEmitter {
      connect(): void;
      close(): void;
      getState(): State;
      getSessionId(): Buffer;
      getSessionPassword(): Buffer;
      getSessionTimeout(): number;
      addAuthInfo(scheme: string, auth: Buffer): void;
      create(path: string, callback: Callback<string>): void;
      create(path: string, data: Buffer | null, callback: Callback<string>): void;
      create(path: string, data: Buffer | null, acls: ACL[], callback: Callback<string>): void;
      create(path: string, data: Buffer | null, acls: ACL[], mode: number, callback: Callback<string>): void;
      create(path: string, data: Buffer | null, mode: number, callback: Callback<string>): void;
      remove(path: string, callback: Callback<void>): void;
      remove(path: string, version: number, callback: Callback<void>): void;
      setData(path: string, data: Buffer | null, callback: Callback<Stat>): void;
      setData(path: string, data: Buffer | null, version: number, callback: Callback<Stat>): void;
      getData(path: string, callback: (error: Exception | Error | null, data: Buffer | undefined, stat: Stat) => void): void;
      getData(
        path: string,
        watcher: Watcher,
        callback: (error: Exception | Error | null, data: Buffer | undefined, stat: Stat) => void,
      ): void;
      exists(path: string, callback: Callback<Stat | null>): void;
      exists(path: string, watcher: Watcher, callback: Callback<Stat | null>): void;
      getChildren(path: string, callback: (error: Exception | Error | null, children: string[], stat: Stat) => void): void;
      getChildren(
        path: string,
        watcher: Watcher,
        callback: (error: Exception | Error | null, children: string[], stat: Stat) => void,
      ): void;
      getACL(path: string, callback: (error: Exception | Error | null, acls: ACL[], stat: Stat) => void): void;
      setACL(path: string, acls: ACL[], callback: Callback<Stat>): void;
      mkdirp(path: string, callback: Callback<string>): void;
      mkdirp(path: string, data: Buffer | null, callback: Callback<string>): void;
      transaction(): Transaction;
    }

    function createClient(connectionString: string, options?: ClientOptions): Client;

    const Event: { NODE_CREATED: 1; NODE_DELETED: 2; NODE_DATA_CHANGED: 3; NODE_CHILDREN_CHANGED: 4 };
    const Permission: { READ: 1; WRITE: 2; CREATE: 4; DELETE: 8; ADMIN: 16; ALL: 31 };
    const CreateMode: { PERSISTENT: 0; EPHEMERAL: 1; PERSISTENT_SEQUENTIAL: 2; EPHEMERAL_SEQUENTIAL: 3 };
    const State: {
      DISCONNECTED: State;
      SYNC_CONNECTED: State;
      AUTH_FAILED: State;
      CONNECTED_READ_ONLY: State;
      SASL_AUTHENTICATED: State;
      EXPIRED: State;
    };
  }

  export = zookeeper;
}
