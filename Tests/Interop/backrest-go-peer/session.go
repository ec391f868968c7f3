package main

// Protocol 3's transport and handshake as backrest 1.13+ runs them (spec/backrest-sync.md §16a), on Go's standard
// library: crypto/hpke with MLKEM1024-P384, HKDF-SHA256 and AES-256-GCM is the very code backrest calls.

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ed25519"
	"crypto/hpke"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
)

const (
	transportInfo   = "backrest-sync-transport-v1"
	initiatorLabel  = "backrest-sync-session-key/v1/initiator-to-responder"
	responderLabel  = "backrest-sync-session-key/v1/responder-to-initiator"
	transcriptLabel = "backrest-sync-transport-transcript/v1\x00"
	handshakeLabel  = "backrest-sync-handshake/v1\x00"
)

// channel seals what this client sends and opens what the hub sends, each direction with its own key and counter.
type channel struct {
	sending, receiving cipher.AEAD
	sent, received     uint64
	transcript         []byte
}

func lengthPrefixed(b []byte) []byte {
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(b))), b...)
}

// keyExchange sends the client's KEM public key and completes the exchange with the hub's encapsulation.
func keyExchange(s *stream) (*channel, error) {
	kem := hpke.MLKEM1024P384()
	private, err := kem.GenerateKey()
	if err != nil {
		return nil, err
	}
	publicKey := private.PublicKey().Bytes()
	var establish []byte
	establish = appendIntField(establish, 1, 1)
	establish = appendBytesField(establish, 2, publicKey)
	s.send <- item(itemEstablishSharedSecret, establish)
	reply, err := s.next()
	if err != nil {
		return nil, err
	}
	number, body, err := action(reply)
	if err != nil || number != itemEstablishSharedSecret {
		return nil, fmt.Errorf("expected KEM key exchange, got item %d (%v)", number, err)
	}
	fields, err := parse(body)
	if err != nil {
		return nil, err
	}
	if version, _ := first(fields, 1); version.varint != 1 {
		return nil, fmt.Errorf("transport version %d", version.varint)
	}
	encapsulation, found := first(fields, 3)
	if !found {
		return nil, errors.New("no kem_encapsulation")
	}
	recipient, err := hpke.NewRecipient(encapsulation.bytes, private, hpke.HKDFSHA256(), hpke.AES256GCM(), []byte(transportInfo))
	if err != nil {
		return nil, err
	}
	c := &channel{}
	for _, direction := range []struct {
		label  string
		target *cipher.AEAD
	}{{initiatorLabel, &c.sending}, {responderLabel, &c.receiving}} {
		key, err := recipient.Export(direction.label, 32)
		if err != nil {
			return nil, err
		}
		block, err := aes.NewCipher(key)
		if err != nil {
			return nil, err
		}
		if *direction.target, err = cipher.NewGCM(block); err != nil {
			return nil, err
		}
	}
	transcript := sha256.New()
	transcript.Write([]byte(transcriptLabel))
	transcript.Write(binary.BigEndian.AppendUint32(nil, 1))
	transcript.Write(lengthPrefixed(publicKey))
	transcript.Write(lengthPrefixed(encapsulation.bytes))
	c.transcript = transcript.Sum(nil)
	return c, nil
}

func nonce(counter uint64) []byte { return binary.BigEndian.AppendUint64(make([]byte, 4), counter) }

// seal wraps one inner item as encrypted{nonce, ciphertext}.
func (c *channel) seal(inner []byte) []byte {
	n := nonce(c.sent)
	c.sent++
	var encrypted []byte
	encrypted = appendBytesField(encrypted, 1, n)
	encrypted = appendBytesField(encrypted, 2, c.sending.Seal(nil, n, inner, nil))
	return item(itemEncrypted, encrypted)
}

// open unwraps the hub's next frame: it must carry exactly the nonce expected next.
func (c *channel) open(outer []byte) ([]byte, error) {
	number, body, err := action(outer)
	if err != nil {
		return nil, err
	}
	if number != itemEncrypted {
		return nil, fmt.Errorf("unencrypted item %d after the key exchange", number)
	}
	fields, err := parse(body)
	if err != nil {
		return nil, err
	}
	n, _ := first(fields, 1)
	ciphertext, _ := first(fields, 2)
	if string(n.bytes) != string(nonce(c.received)) {
		return nil, fmt.Errorf("nonce out of order (expected counter %d)", c.received)
	}
	c.received++
	return c.receiving.Open(nil, n.bytes, ciphertext.bytes, nil)
}

func keyid(public ed25519.PublicKey) string {
	digest := sha256.Sum256(public)
	return "ed25519." + base64.RawURLEncoding.EncodeToString(digest[:])
}

func signedDigest(instance, pairingSecret string, transcript []byte) []byte {
	h := sha256.New()
	h.Write([]byte(handshakeLabel))
	h.Write(binary.BigEndian.AppendUint64(nil, 3))
	h.Write(lengthPrefixed([]byte(instance)))
	h.Write(lengthPrefixed([]byte(pairingSecret)))
	h.Write(lengthPrefixed(transcript))
	return h.Sum(nil)
}

// handshake is this client's SyncActionHandshake, signed over the connection's transcript.
func handshake(key ed25519.PrivateKey, instance, pairingSecret string, transcript []byte) []byte {
	public := key.Public().(ed25519.PublicKey)
	var publicKey []byte
	publicKey = appendStringField(publicKey, 1, keyid(public))
	publicKey = appendStringField(publicKey, 2, base64.RawStdEncoding.EncodeToString(public))
	var b []byte
	b = appendIntField(b, 1, 3)
	b = appendBytesField(b, 2, publicKey)
	b = appendStringField(b, 3, instance)
	b = appendStringField(b, 4, pairingSecret)
	b = appendBytesField(b, 5, ed25519.Sign(key, signedDigest(instance, pairingSecret, transcript)))
	return item(itemHandshake, b)
}

// verifyHub checks the hub's handshake: version 3, the keyid and instance this client knows the hub by, a keyid
// derived from the key, and a signature over this connection's transcript.
func verifyHub(inner []byte, hubKeyID, hubInstance string, transcript []byte) error {
	number, body, err := action(inner)
	if err != nil || number != itemHandshake {
		return fmt.Errorf("expected the hub's handshake, got item %d (%v)", number, err)
	}
	fields, err := parse(body)
	if err != nil {
		return err
	}
	version, _ := first(fields, 1)
	publicKeyField, _ := first(fields, 2)
	instance, _ := first(fields, 3)
	secret, _ := first(fields, 4)
	signature, _ := first(fields, 5)
	if version.varint != 3 {
		return fmt.Errorf("hub handshake version %d", version.varint)
	}
	keyFields, err := parse(publicKeyField.bytes)
	if err != nil {
		return err
	}
	claimed, _ := first(keyFields, 1)
	encoded, _ := first(keyFields, 2)
	raw, err := base64.RawStdEncoding.DecodeString(string(encoded.bytes))
	if err != nil || len(raw) != ed25519.PublicKeySize {
		return errors.New("hub public key is not 32 bytes of unpadded base64")
	}
	if keyid(raw) != string(claimed.bytes) || string(claimed.bytes) != hubKeyID {
		return fmt.Errorf("hub keyid %s is not the known host's %s", claimed.bytes, hubKeyID)
	}
	if string(instance.bytes) != hubInstance {
		return fmt.Errorf("hub instance %q is not the known host's %q", instance.bytes, hubInstance)
	}
	if !ed25519.Verify(raw, signedDigest(string(instance.bytes), string(secret.bytes), transcript), signature.bytes) {
		return errors.New("hub handshake signature does not verify over this connection's transcript")
	}
	return nil
}
