/**
 * Every record of the ZooKeeper client protocol, as declared in zookeeper.jute (3.4 to 3.9)
 * plus the hand-written ones (DeleteContainerRequest, the multi bodies, the trailing readOnly byte).
 * Fields typed `path` hold full znode paths; `mapPaths` rewrites exactly those.
 */
import {
  aclList,
  bool,
  buffer,
  int,
  long,
  multiRequest,
  multiResponse,
  nested,
  optionalBool,
  path,
  record,
  ustring,
  vector,
} from './schema.ts';

export const Id = record('Id', { scheme: ustring, id: ustring });
export const ACL = record('ACL', { perms: int, id: nested(Id) });
export const Stat = record('Stat', {
  czxid: long,
  mzxid: long,
  ctime: long,
  mtime: long,
  version: int,
  cversion: int,
  aversion: int,
  ephemeralOwner: long,
  dataLength: int,
  numChildren: int,
  pzxid: long,
});

// Handshake: no header in front of these. readOnly is absent for 3.3-and-older peers (44/36 bytes).
export const ConnectRequest = record('ConnectRequest', {
  protocolVersion: int,
  lastZxidSeen: long,
  timeOut: int,
  sessionId: long,
  passwd: buffer,
  readOnly: optionalBool,
});
export const ConnectResponse = record('ConnectResponse', {
  protocolVersion: int,
  timeOut: int,
  sessionId: long,
  passwd: buffer,
  readOnly: optionalBool,
});

export const RequestHeader = record('RequestHeader', { xid: int, type: int });
export const ReplyHeader = record('ReplyHeader', { xid: int, zxid: long, err: int });
export const MultiHeader = record('MultiHeader', { type: int, done: bool, err: int });

const acls = aclList(nested(ACL));
const paths = vector(path);

// Requests
export const AuthPacket = record('AuthPacket', { type: int, scheme: ustring, auth: buffer });
export const SetWatches = record('SetWatches', {
  relativeZxid: long,
  dataWatches: paths,
  existWatches: paths,
  childWatches: paths,
});
export const SetWatches2 = record('SetWatches2', {
  relativeZxid: long,
  dataWatches: paths,
  existWatches: paths,
  childWatches: paths,
  persistentWatches: paths,
  persistentRecursiveWatches: paths,
});
export const CreateRequest = record('CreateRequest', { path, data: buffer, acl: acls, flags: int }, { createFlagsField: 'flags' });
export const CreateTTLRequest = record(
  'CreateTTLRequest',
  { path, data: buffer, acl: acls, flags: int, ttl: long },
  {
    createFlagsField: 'flags',
  },
);
export const DeleteRequest = record('DeleteRequest', { path, version: int });
export const DeleteContainerRequest = record('DeleteContainerRequest', { path });
export const ExistsRequest = record('ExistsRequest', { path, watch: bool });
export const GetDataRequest = record('GetDataRequest', { path, watch: bool });
export const SetDataRequest = record('SetDataRequest', { path, data: buffer, version: int });
export const GetACLRequest = record('GetACLRequest', { path });
export const SetACLRequest = record('SetACLRequest', { path, acl: acls, version: int });
export const GetChildrenRequest = record('GetChildrenRequest', { path, watch: bool });
export const GetChildren2Request = record('GetChildren2Request', { path, watch: bool });
export const SyncRequest = record('SyncRequest', { path });
export const CheckVersionRequest = record('CheckVersionRequest', { path, version: int });
export const ReconfigRequest = record('ReconfigRequest', {
  joiningServers: ustring,
  leavingServers: ustring,
  newMembers: ustring,
  curConfigId: long,
});
export const CheckWatchesRequest = record('CheckWatchesRequest', { path, type: int });
export const RemoveWatchesRequest = record('RemoveWatchesRequest', { path, type: int });
export const GetSASLRequest = record('GetSASLRequest', { token: buffer });
export const GetEphemeralsRequest = record('GetEphemeralsRequest', { prefixPath: path });
export const GetAllChildrenNumberRequest = record('GetAllChildrenNumberRequest', { path });
export const AddWatchRequest = record('AddWatchRequest', { path, mode: int });
export const MultiOperationRecord = record('MultiOperationRecord', { ops: multiRequest });

// Responses
export const CreateResponse = record('CreateResponse', { path });
export const Create2Response = record('Create2Response', { path, stat: nested(Stat) });
export const ExistsResponse = record('ExistsResponse', { stat: nested(Stat) });
export const GetDataResponse = record('GetDataResponse', { data: buffer, stat: nested(Stat) });
export const SetDataResponse = record('SetDataResponse', { stat: nested(Stat) });
export const GetACLResponse = record('GetACLResponse', { acl: acls, stat: nested(Stat) });
export const SetACLResponse = record('SetACLResponse', { stat: nested(Stat) });
export const GetChildrenResponse = record('GetChildrenResponse', { children: vector(ustring) });
export const GetChildren2Response = record('GetChildren2Response', { children: vector(ustring), stat: nested(Stat) });
export const SyncResponse = record('SyncResponse', { path });
export const SetSASLResponse = record('SetSASLResponse', { token: buffer });
export const GetEphemeralsResponse = record('GetEphemeralsResponse', { ephemerals: paths });
export const GetAllChildrenNumberResponse = record('GetAllChildrenNumberResponse', { totalNumber: int });
export const ErrorResponse = record('ErrorResponse', { err: int });
export const ClientInfo = record('ClientInfo', { authScheme: ustring, user: ustring });
export const WhoAmIResponse = record('WhoAmIResponse', { clientInfo: vector(nested(ClientInfo)) });
export const MultiResponse = record('MultiResponse', { results: multiResponse });

/** The body of every xid -1 frame. */
export const WatcherEvent = record('WatcherEvent', { type: int, state: int, path });
