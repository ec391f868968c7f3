// The reference side of scripts/bench-negentropy: hoytech's C++ negentropy (its headers, fetched apart and never
// copied here) reconciling the same sets as Benchmarks/NegentropyBench, in the same process layout, both
// sides on BTreeMem (its fastest storage for fingerprints). The sets come from the same SplitMix64 draws as the
// Swift side (see `Shape` there), so rounds and bytes must match exactly.
//
//   reference_bench [items] [seed]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <set>
#include <string>
#include <vector>

#include "negentropy.h"
#include "negentropy/storage/BTreeMem.h"

struct SplitMix {
    uint64_t state;
    uint64_t next() {
        state += 0x9e3779b97f4a7c15ULL;
        uint64_t z = state;
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        return z ^ (z >> 31);
    }
};

struct Item {
    uint64_t timestamp;
    std::string id;
};

// One shape: `count` items; each differs with probability `probability` (in millionths), or exactly `exactly`
// of them differ; a differing item is the client's or the server's by one more draw.
static void run(uint64_t count, uint64_t probability, uint64_t exactly, uint64_t clientLimit, uint64_t serverLimit, uint64_t seed) {
    SplitMix generator{seed};
    std::set<uint64_t> chosen;
    while (chosen.size() < exactly) chosen.insert(generator.next() % count);
    std::vector<Item> client, server;
    size_t expectedHave = 0, expectedNeed = 0;
    for (uint64_t index = 0; index < count; index++) {
        std::string id(32, '\0');
        for (int word = 0; word < 4; word++) {
            uint64_t value = generator.next();
            memcpy(&id[word * 8], &value, 8);  // little-endian, as Swift's withUnsafeBytes(of:) on x86-64
        }
        uint64_t timestamp = 1700000000 + generator.next() % count;
        bool differs = exactly > 0 ? chosen.count(index) > 0 : generator.next() % 1000000 < probability;
        if (!differs) {
            client.push_back({timestamp, id});
            server.push_back({timestamp, id});
        } else if (generator.next() & 1) {
            client.push_back({timestamp, id});
            expectedHave++;
        } else {
            server.push_back({timestamp, id});
            expectedNeed++;
        }
    }
    auto buildStart = std::chrono::steady_clock::now();
    negentropy::storage::BTreeMem clientStorage;
    for (auto &item : client) clientStorage.insert(item.timestamp, item.id);
    clientStorage.seal();
    negentropy::storage::BTreeMem serverStorage;
    for (auto &item : server) serverStorage.insert(item.timestamp, item.id);
    serverStorage.seal();
    double built = std::chrono::duration<double>(std::chrono::steady_clock::now() - buildStart).count();

    negentropy::Negentropy initiator(clientStorage, clientLimit);
    negentropy::Negentropy responder(serverStorage, serverLimit);
    auto start = std::chrono::steady_clock::now();
    std::vector<std::string> have, need;
    std::optional<std::string> message = initiator.initiate();
    uint64_t rounds = 0, up = 0, down = 0;
    while (message) {
        rounds++;
        up += message->size();
        std::string reply = responder.reconcile(*message);
        down += reply.size();
        message = initiator.reconcile(reply, have, need);
    }
    double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::set<std::string> haveSet(have.begin(), have.end()), needSet(need.begin(), need.end());
    bool exact = haveSet.size() == expectedHave && needSet.size() == expectedNeed;
    char label[32];
    if (exactly > 0) snprintf(label, sizeof label, "%llu records", (unsigned long long)exactly);
    else snprintf(label, sizeof label, "%g%%", probability / 10000.0);
    printf("%9llu items, diff %-10s frames %7llu/%-7llu responder BTreeMem: %4llu round trips, up %10llu B, down %10llu B, total %10llu B, "
           "reconcile %8.4f s, build+seal %.2f s, %s (have %zu, need %zu)\n",
           (unsigned long long)count, label, (unsigned long long)clientLimit, (unsigned long long)serverLimit, (unsigned long long)rounds,
           (unsigned long long)up, (unsigned long long)down, (unsigned long long)(up + down), wall, built, exact ? "exact" : "WRONG",
           haveSet.size(), needSet.size());
    if (!exact) exit(1);
}

int main(int argc, char **argv) {
    uint64_t items = argc > 1 ? strtoull(argv[1], nullptr, 10) : 1000000;
    uint64_t seed = argc > 2 ? strtoull(argv[2], nullptr, 10) : 1;
    run(items, 0, 2, 60000, 500000, seed);
    run(items, 10000, 0, 60000, 500000, seed);
    run(items, 10000, 0, 0, 0, seed);
    run(items, 1000, 0, 60000, 500000, seed);
    run(items / 10, 10000, 0, 60000, 500000, seed);
    return 0;
}
