// Command backrest-peer is a backrest 1.13+ client (sync protocol 3) built on Go's standard library alone, written
// from Wharf's spec (spec/backrest-sync.md §16a) to drive Wharf's hub from outside its Swift code. See README.md.
package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

var (
	outputLock sync.Mutex
	encoder    = json.NewEncoder(os.Stdout)
)

// emit prints one event as a JSON line (what the tests read).
func emit(event string, fields map[string]any) {
	outputLock.Lock()
	defer outputLock.Unlock()
	if fields == nil {
		fields = map[string]any{}
	}
	fields["event"] = event
	encoder.Encode(fields)
}

func fail(format string, args ...any) {
	emit("error", map[string]any{"message": fmt.Sprintf(format, args...)})
	os.Exit(1)
}

// loadOrCreateKey keeps the client's ed25519 identity in the state folder, as backrest keeps it in its config.
func loadOrCreateKey(folder string) ed25519.PrivateKey {
	path := filepath.Join(folder, "identity")
	if text, err := os.ReadFile(path); err == nil {
		seed, err := hex.DecodeString(strings.TrimSpace(string(text)))
		if err != nil || len(seed) != ed25519.SeedSize {
			fail("%s: not a hex ed25519 seed", path)
		}
		return ed25519.NewKeyFromSeed(seed)
	}
	seed := make([]byte, ed25519.SeedSize)
	rand.Read(seed)
	if err := os.WriteFile(path, []byte(hex.EncodeToString(seed)), 0o600); err != nil {
		fail("%s: %v", path, err)
	}
	return ed25519.NewKeyFromSeed(seed)
}

// knownHost is the hub as this client knows it: from a pairing token the first time, from the state folder after.
type knownHost struct {
	KeyID    string `json:"keyid"`
	Instance string `json:"instance_id"`
}

func parseToken(token string) (knownHost, string, error) {
	hash := strings.LastIndex(token, "#")
	colon := strings.Index(token, ":")
	if hash < 0 || colon < 0 || colon > hash {
		return knownHost{}, "", errors.New("a pairing token reads <keyid>:<secret>#<instance id>")
	}
	return knownHost{KeyID: token[:colon], Instance: token[hash+1:]}, token[colon+1 : hash], nil
}

func main() {
	address := flag.String("address", "127.0.0.1:8080", "the hub (or the gateway in front of it), host:port")
	protocol := flag.String("protocol", "connect", "connect (as backrest's own client) or grpc")
	folder := flag.String("state", ".", "folder keeping this client's key and known host")
	instance := flag.String("instance", "go-peer", "this client's instance id")
	token := flag.String("pair", "", "a pairing token from `wharfctl backrest pair`, for the first connection")
	operations := flag.Int("ops", 0, "operations this client holds: ids 1..N")
	changed := flag.Int("changed", 0, "how many of them (from id 1) changed since the last run: their modno is 2, not 1")
	exitAfterConfig := flag.Bool("exit-after-config", false, "end the session once a set_config arrived")
	caFile := flag.String("ca", "", "speak HTTP/2 over TLS (an https:// hub URL), trusting this CA certificate (PEM)")
	varied := flag.Bool("varied", false, "backups of two plans over the last N hours, every fifth failed, the others with a summary")
	flag.Parse()
	started := time.Now().UnixMilli()

	key := loadOrCreateKey(*folder)
	hostPath := filepath.Join(*folder, "known_host.json")
	var host knownHost
	secret := ""
	if *token != "" {
		var err error
		if host, secret, err = parseToken(*token); err != nil {
			fail("%v", err)
		}
	} else if text, err := os.ReadFile(hostPath); err != nil || json.Unmarshal(text, &host) != nil {
		fail("no known host: pair first with -pair")
	}

	s, err := open(*address, *protocol, *caFile)
	if err != nil {
		fail("open: %v", err)
	}
	c, err := keyExchange(s)
	if err != nil {
		end(err)
	}
	s.send <- c.seal(handshake(key, *instance, secret, c.transcript))
	hubHandshake, err := s.next()
	if err != nil {
		end(err)
	}
	inner, err := c.open(hubHandshake)
	if err != nil {
		fail("hub handshake: %v", err)
	}
	if err := verifyHub(inner, host.KeyID, host.Instance, c.transcript); err != nil {
		fail("%v", err)
	}
	// Paired: the secret is spent, the hub is a known host from now on (backrest clears initial_pairing_secret).
	if text, err := json.Marshal(host); err == nil {
		os.WriteFile(hostPath, text, 0o600)
	}
	emit("connected", map[string]any{
		"keyid": keyid(key.Public().(ed25519.PublicKey)), "hub_keyid": host.KeyID, "hub_instance": host.Instance,
		"http": s.response.Proto, "tls": s.response.TLS != nil && s.response.TLS.NegotiatedProtocol == "h2",
	})

	// What a client sends once connected: its config, its resources, then the manifest of its operations.
	repo := appendStringField(appendStringField(nil, 1, "repo1"), 2, "/srv/restic/repo1")
	s.send <- c.seal(item(itemReceiveConfig, appendBytesField(nil, 1, appendBytesField(appendIntField(nil, 1, 1), 3, repo))))
	resources := appendBytesField(nil, 1, appendStringField(appendStringField(nil, 1, "repo1"), 2, "guid-repo1"))
	resources = appendBytesField(resources, 2, appendStringField(nil, 1, "daily"))
	s.send <- c.seal(item(itemReceiveResources, resources))
	modno := func(id int64) int64 {
		if id <= int64(*changed) {
			return 2
		}
		return 1
	}
	ids := make([]int64, *operations)
	modnos := make([]int64, *operations)
	for i := range ids {
		ids[i] = int64(i + 1)
		modnos[i] = modno(ids[i])
	}
	manifest := appendPackedInts(appendPackedInts(nil, 1, ids), 2, modnos)
	s.send <- c.seal(item(itemOperationManifest, manifest))

	var requested, messages, largest int
	var counts sync.Mutex
	summary := func() map[string]any {
		counts.Lock()
		defer counts.Unlock()
		return map[string]any{"requested": requested, "request_messages": messages, "largest_request": largest}
	}
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-signals
		emit("done", summary())
		os.Exit(0)
	}()

	for {
		outer, err := s.next()
		if err != nil {
			end(err)
		}
		inner, err := c.open(outer)
		if err != nil {
			fail("%v", err)
		}
		number, body, err := action(inner)
		if err != nil {
			fail("%v", err)
		}
		fields, err := parse(body)
		if err != nil {
			fail("%v", err)
		}
		switch number {
		case itemHeartbeat, itemReceiveConfig, itemReceiveResources, itemRequestResources:
		case itemOperationManifest:
			s.send <- c.seal(item(itemOperationManifest, manifest))
		case itemRequestOperationData:
			wanted, err := packedInts(fields, 1)
			if err != nil {
				fail("%v", err)
			}
			counts.Lock()
			requested, messages, largest = requested+len(wanted), messages+1, max(largest, len(wanted))
			counts.Unlock()
			emit("requested", map[string]any{"count": len(wanted)})
			for start := 0; start < len(wanted); start += 512 {
				var batch [][]byte
				for _, id := range wanted[start:min(start+512, len(wanted))] {
					if id >= 1 && id <= int64(*operations) {
						if *varied {
							hoursAgo := int64(*operations) - id
							batch = append(batch, variedOperation(id, (id+9)/10, modno(id), *instance, started-hoursAgo*3_600_000))
						} else {
							batch = append(batch, operation(id, (id+9)/10, modno(id), *instance, 1_762_000_000_000+id*1000))
						}
					}
				}
				s.send <- c.seal(receivedOperations(batch))
			}
		case itemSetConfig:
			var repos, reposToDelete []string
			for _, f := range fields {
				switch f.number {
				case 1:
					repoFields, _ := parse(f.bytes)
					id, _ := first(repoFields, 1)
					repos = append(repos, string(id.bytes))
				case 3:
					reposToDelete = append(reposToDelete, string(f.bytes))
				}
			}
			emit("config", map[string]any{"repos": repos, "repos_to_delete": reposToDelete})
			if *exitAfterConfig {
				s.close()
				emit("done", summary())
				os.Exit(0)
			}
		default:
			// What a 1.14 client does with anything else from a hub: it ends the connection.
			fail("unexpected item %d from the hub", number)
		}
	}
}

// end reports how the hub ended the call: a refusal (exit 3) or a plain end.
func end(err error) {
	var refusal *callError
	if errors.As(err, &refusal) {
		emit("refused", map[string]any{"code": refusal.Code, "message": refusal.Message})
		os.Exit(3)
	}
	if errors.Is(err, io.EOF) {
		emit("ended", nil)
		os.Exit(0)
	}
	fail("%v", err)
}
