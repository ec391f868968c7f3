"""rust-nostr (PyPI nostr-sdk 0.45) as a relay's users run it, for scripts/bench-negentropy-relay.

  nostr_relay_clients.py sync <relay ws url> <scratch folder> <clients> <expected events>
      <clients> nostr-sdk clients at once, each with an empty database (the client's default, in memory: it
      keeps the ids it has seen, not the events): a reconcile-only run (dry_run), then a full sync down (every
      missing event fetched and verified by the client). Prints one JSON object per client, then one with the totals.
  nostr_relay_clients.py local-relay <port>
      Runs rust-nostr's in-memory LocalRelay on 127.0.0.1:<port> (the anchor) until stdin closes; prints "ready".
  nostr_relay_clients.py reconcile <relay ws url> <expected events> [until]
      One reconcile-only run with an empty in-memory database (what LocalRelay allows: its full sync fails), of
      every event or of those created at or before <until>.
"""
import asyncio, datetime, json, os, shutil, sys, time

import nostr_sdk
from nostr_sdk import Client, Filter, LocalRelayBuilder, RateLimit, RelayUrl, SyncDirection, SyncOptions, Timestamp

EVERYTHING = Filter()


async def one_client(url, path, expected):
    # The client's own default database: a database object handed to ClientBuilder.database from Python is
    # called back through Python for every event (and breaks under load), which would measure the bindings.
    # It does not keep events, so completeness is what the sync reports received.
    shutil.rmtree(path, ignore_errors=True)
    client = Client()
    database = client.database()
    await client.add_relay(url)
    await client.connect(datetime.timedelta(seconds=10))
    started = time.monotonic()
    dry = (await client.sync(EVERYTHING, opts=SyncOptions().dry_run())).report
    reconcile = time.monotonic() - started
    started = time.monotonic()
    report = (await client.sync(EVERYTHING, opts=SyncOptions().direction(SyncDirection.DOWN))).report
    whole = time.monotonic() - started
    stored = await database.count(EVERYTHING)
    await client.shutdown()
    return {"need": len(dry.remote), "reconcile_seconds": round(reconcile, 3), "received": len(report.received),
            "stored": stored, "sync_seconds": round(whole, 3), "events_per_second": round(len(report.received) / whole) if whole else 0,
            "complete": len(report.received) == expected}


async def sync(address, scratch, clients, expected):
    nostr_sdk.uniffi_set_event_loop(asyncio.get_running_loop())
    url = RelayUrl.parse(address)
    started = time.monotonic()
    results = await asyncio.gather(*(one_client(url, os.path.join(scratch, f"client-{i}"), expected) for i in range(clients)))
    wall = time.monotonic() - started
    for result in results:
        print(json.dumps(result))
    print(json.dumps({"clients": clients, "wall_seconds": round(wall, 3), "all_complete": all(r["complete"] for r in results)}))
    return 0 if all(r["complete"] for r in results) else 1


async def local_relay(port):
    nostr_sdk.uniffi_set_event_loop(asyncio.get_running_loop())
    relay = (LocalRelayBuilder().port(port).max_filter_limit(1_000_000)
             .rate_limit(RateLimit(max_reqs=1_000_000, notes_per_minute=100_000_000)).build())
    await relay.run()
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    relay.shutdown()
    return 0


async def reconcile(address, expected, until=None):
    nostr_sdk.uniffi_set_event_loop(asyncio.get_running_loop())
    client = Client()
    await client.add_relay(RelayUrl.parse(address))
    await client.connect(datetime.timedelta(seconds=10))
    started = time.monotonic()
    wanted = EVERYTHING if until is None else Filter().until(Timestamp.from_secs(until))
    dry = (await client.sync(wanted, opts=SyncOptions().dry_run())).report
    seconds = time.monotonic() - started
    await client.shutdown()
    print(json.dumps({"need": len(dry.remote), "reconcile_seconds": round(seconds, 3), "complete": len(dry.remote) == expected}))
    return 0 if len(dry.remote) == expected else 1


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "sync":
        status = asyncio.run(sync(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])))
    elif mode == "local-relay":
        status = asyncio.run(local_relay(int(sys.argv[2])))
    else:
        status = asyncio.run(reconcile(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]) if len(sys.argv) > 4 else None))
    sys.stdout.flush()
    os._exit(status)  # nostr-sdk's FFI finalizers can crash a normal interpreter exit
