"""rust-nostr (nostr-sdk 0.45.1) against the Wharf relay: publish, then NIP-77 reconcile and sync.
The calling test checks that the relay ends with all 13 events.

usage: nostr_client.py <relay ws url> <scratch folder>
Prints "ok" and exits 0 when every check holds; otherwise prints what differed and exits 1.
"""
import asyncio, datetime, os, shutil, sys

import nostr_sdk
from nostr_sdk import (Client, ClientBuilder, EventBuilder, Filter, Keys, Kind, NostrLmdb, RelayUrl, SyncDirection,
                       SyncOptions, Timestamp)


def note(keys, text, ts):
    return EventBuilder(Kind(1), text).custom_created_at(Timestamp.from_secs(ts)).finalize(keys)


async def main(address, scratch):
    url = RelayUrl.parse(address)
    nostr_sdk.uniffi_set_event_loop(asyncio.get_running_loop())
    problems = []
    keys = Keys.generate()
    shared = [note(keys, f"shared {i}", 1700000000 + i) for i in range(5)]
    relay_only = [note(keys, f"relay only {i}", 1700000050 + i) for i in range(5)]
    client_only = [note(keys, f"client only {i}", 1700000100 + i) for i in range(3)]

    publisher = Client()
    await publisher.add_relay(url)
    await publisher.connect(datetime.timedelta(seconds=5))
    for event in shared + relay_only:
        output = await publisher.send_event(event)
        if len(output.success) != 1:
            problems.append(f"publish {event.id().to_hex()}: {output.failed}")

    path = os.path.join(scratch, "client-db")
    shutil.rmtree(path, ignore_errors=True)
    database = await NostrLmdb.open(path)
    for event in shared + client_only:
        await database.save_event(event)
    agent = ClientBuilder().database(database).build()
    await agent.add_relay(url)
    await agent.connect(datetime.timedelta(seconds=5))
    only_ours = Filter().author(keys.public_key()).kind(Kind(1))

    dry = (await agent.sync(only_ours, opts=SyncOptions().dry_run())).report
    if (len(dry.local), len(dry.remote)) != (3, 5):
        problems.append(f"dry run: have {len(dry.local)} need {len(dry.remote)}, expected have 3 need 5")
    report = (await agent.sync(only_ours, opts=SyncOptions().direction(SyncDirection.BOTH))).report
    if (len(report.sent), len(report.received)) != (3, 5):
        problems.append(f"sync: sent {len(report.sent)} received {len(report.received)}, expected 3 and 5")
    again = (await agent.sync(only_ours, opts=SyncOptions().dry_run())).report
    if (len(again.local), len(again.remote)) != (0, 0):
        problems.append(f"after sync: have {len(again.local)} need {len(again.remote)}, expected 0 and 0")
    for client in (publisher, agent):
        await client.shutdown()
    print("\n".join(problems) if problems else "ok")
    return 1 if problems else 0


if __name__ == "__main__":
    status = asyncio.run(main(sys.argv[1], sys.argv[2]))
    sys.stdout.flush()
    os._exit(status)  # nostr-sdk's FFI finalizers can crash a normal interpreter exit
