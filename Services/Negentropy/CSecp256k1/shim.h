// Debian libsecp256k1-dev: BIP-340 Schnorr signatures over x-only keys, as Nostr events are signed.
#include <secp256k1.h>
#include <secp256k1_extrakeys.h>
#include <secp256k1_schnorrsig.h>
