"""A backrest multihost client of protocol 1 (backrest 1.11-1.12), written in Python from the spec
(../shared/spec/backrest-sync.md §4-§6) with grpcio stubs generated from the protos and the `cryptography`
package, as an independent check of the hub: its own ECDSA P-256 identity and keyid, the in-stream handshake
both ways, the hub's config, resources and request_operations, operations pushed, and the catch-up point a
reconnecting client is given.

usage:
  backrest_client.py keygen <folder>
      writes <folder>/backrest-key.pem and prints the keyid (for `wharfctl backrest client add`)
  backrest_client.py sync <host:port> <protos dir> <folder> <instance id> <hub keyid> <operations>
      connects (as the client whose key is in <folder>), checks the hub's handshake against <hub keyid>,
      pushes <operations> operations, then reconnects until the hub's request_operations names the last one.
Prints "ok" and exits 0 when every check passed; prints what failed and exits 1 otherwise.
"""
import base64
import hashlib
import os
import queue
import shutil
import sys
import tempfile
import time

import grpc
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from generated_stubs import generate


def keyid(public_key):
    """"ecdsa." + base64url_nopad(SHA-256(X ‖ Y)), X and Y big-endian without leading zero bytes (§4)."""
    numbers = public_key.public_numbers()

    def minimal(value):
        return value.to_bytes((value.bit_length() + 7) // 8, "big")

    digest = hashlib.sha256(minimal(numbers.x) + minimal(numbers.y)).digest()
    return "ecdsa." + base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def public_pem(public_key):
    """SPKI DER in a PEM block labelled "EC PUBLIC", as backrest writes it (§4)."""
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    body = base64.b64encode(der).decode()
    lines = [body[index:index + 64] for index in range(0, len(body), 64)]
    return "-----BEGIN EC PUBLIC-----\n" + "\n".join(lines) + "\n-----END EC PUBLIC-----\n"


def load_public_pem(text):
    """A public key from PEM whatever its label, as Go's pem.Decode takes it (§4)."""
    body = "".join(line for line in text.strip().splitlines() if not line.startswith("-----"))
    return serialization.load_der_public_key(base64.b64decode(body))


def load_key(folder):
    with open(os.path.join(folder, "backrest-key.pem"), "rb") as file:
        return serialization.load_pem_private_key(file.read(), password=None)


def keygen(folder):
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                            serialization.NoEncryption())
    path = os.path.join(folder, "backrest-key.pem")
    with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as file:
        file.write(pem)
    print(keyid(key.public_key()))


class Session:
    """One Sync stream: items sent when the client says, answers read one by one."""

    def __init__(self, stub):
        self.outgoing = queue.Queue()
        self.responses = stub.Sync(iter(self.outgoing.get, None), timeout=60)

    def send(self, item):
        self.outgoing.put(item)

    def next(self):
        """The next item that is not a heartbeat."""
        for item in self.responses:
            if item.WhichOneof("action") != "heartbeat":
                return item
        raise RuntimeError("the hub ended the stream")

    def close(self):
        self.outgoing.put(None)
        self.responses.cancel()


def protos_for_python(protos):
    """backrest's protos in a folder Python can import from: their `types/` folder would generate a `types`
    module, which Python's own shadows, so it is copied as `backrest_types/` (proto packages, and so the wire,
    are unchanged)."""
    copy = tempfile.mkdtemp(prefix="wharf-backrest-protos-")
    for folder, renamed in [("types", "backrest_types"), ("v1", "v1"), ("v1sync", "v1sync"),
                            ("wharf/backrest", "wharf/backrest")]:
        shutil.copytree(os.path.join(protos, folder), os.path.join(copy, renamed))
    for folder in ["v1", "v1sync"]:
        for name in os.listdir(os.path.join(copy, folder)):
            path = os.path.join(copy, folder, name)
            with open(path) as file:
                text = file.read()
            with open(path, "w") as file:
                file.write(text.replace('import "types/', 'import "backrest_types/'))
    return copy


def sync(address, protos, folder, instance, hub_keyid, count):
    generate(protos_for_python(protos), ["backrest_types/value.proto", "v1/crypto.proto", "v1/restic.proto",
                                         "v1/config.proto", "v1/operations.proto",
                                         "wharf/backrest/protocol3/remote_client_config.proto",
                                         "v1sync/syncservice.proto"])
    from v1 import crypto_pb2, operations_pb2
    from v1sync import syncservice_pb2, syncservice_pb2_grpc

    Item = syncservice_pb2.SyncStreamItem
    key = load_key(folder)
    own_keyid = keyid(key.public_key())
    own_pem = public_pem(key.public_key())
    stub = syncservice_pb2_grpc.BackrestSyncServiceStub(grpc.insecure_channel(address))
    failures = []

    def check(condition, what):
        if not condition:
            failures.append(what)

    def handshake():
        # The signature covers the payload alone; the timestamp is only sent (§4).
        payload = instance.encode()
        signature = key.sign(payload, ec.ECDSA(hashes.SHA256()))
        return Item(handshake=Item.SyncActionHandshake(
            protocol_version=1,
            public_key=crypto_pb2.PublicKey(keyid=own_keyid, ed25519pub=own_pem),
            instance_id=crypto_pb2.SignedMessage(keyid=own_keyid, payload=payload, signature=signature,
                                                 timestampMillis=int(time.time() * 1000))))

    def connect():
        """A session past the handshake and the hub's three opening items; returns it and request_operations."""
        session = Session(stub)
        session.send(handshake())
        first = session.next()
        check(first.WhichOneof("action") == "handshake", f"the hub's first item is {first.WhichOneof('action')}")
        theirs = first.handshake
        check(theirs.protocol_version == 1, f"the hub speaks protocol {theirs.protocol_version}")
        hub_key = load_public_pem(theirs.public_key.ed25519pub)
        check(keyid(hub_key) == theirs.public_key.keyid == hub_keyid,
              f"the hub's key is {keyid(hub_key)}, claimed {theirs.public_key.keyid}, expected {hub_keyid}")
        hub_key.verify(theirs.instance_id.signature, theirs.instance_id.payload, ec.ECDSA(hashes.SHA256()))
        seen = {}
        while len(seen) < 3:
            item = session.next()
            seen[item.WhichOneof("action")] = item
        check(set(seen) == {"receive_config", "receive_resources", "request_operations"},
              f"the hub opened with {sorted(seen)}")
        return session, seen["request_operations"].request_operations

    operations = [operations_pb2.Operation(
        id=index, flow_id=index, modno=index, instance_id=instance, repo_id="smoke-repo", repo_guid="smoke-guid",
        plan_id="daily", unix_time_start_ms=1_765_000_000_000 + index, status=operations_pb2.STATUS_SUCCESS,
        display_message=f"backup {index}") for index in range(1, count + 1)]
    session, request = connect()
    check(request.high_opid == 0, f"a new client is asked from operation {request.high_opid}")
    # As backrest does: each session sends, in batches of 256, what the hub's request_operations asks for (the
    # operations after its catch-up point); a newer session of the same client displaces the older one, so
    # what the older one had not delivered is asked for again. Done when the hub asks for nothing more.
    deadline = time.time() + 60
    while request.high_opid < count and time.time() < deadline:
        missing = [operation for operation in operations if operation.id > request.high_opid]
        for start in range(0, len(missing), 256):
            session.send(Item(receive_operations=Item.SyncActionReceiveOperations(event=operations_pb2.OperationEvent(
                created_operations=operations_pb2.OperationList(operations=missing[start:start + 256])))))
        time.sleep(0.5)
        reconnected, request = connect()
        session.close()
        session = reconnected
    check(request.high_opid == count and request.high_modno == count,
          f"after {count} operations the hub asks from operation {request.high_opid}, modno {request.high_modno}")
    session.close()
    if failures:
        print("\n".join(failures))
        sys.exit(1)
    print("ok")


def main():
    if sys.argv[1] == "keygen":
        keygen(sys.argv[2])
    elif sys.argv[1] == "sync":
        sync(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6], int(sys.argv[7]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
