package main

// Protocol buffers by hand: the few messages of backrest's sync protocol 3 this peer sends and reads
// (proto/v1sync/syncservice.proto and proto/v1 at backrest v1.14.1). No third-party module can be fetched here,
// and a hand encoding is also an independent check of the field numbers Wharf's generated code uses.

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
)

// Field numbers of SyncStreamItem's oneof (protocol 3).
const (
	itemEstablishSharedSecret = 2
	itemHandshake             = 3
	itemHeartbeat             = 4
	itemEncrypted             = 5
	itemOperationManifest     = 20
	itemReceiveOperations     = 21
	itemRequestOperationData  = 22
	itemReceiveConfig         = 23
	itemSetConfig             = 24
	itemRequestResources      = 25
	itemReceiveResources      = 26
)

func appendVarint(b []byte, v uint64) []byte { return binary.AppendUvarint(b, v) }

func appendTag(b []byte, field int, wireType int) []byte {
	return appendVarint(b, uint64(field)<<3|uint64(wireType))
}

func appendBytesField(b []byte, field int, value []byte) []byte {
	b = appendTag(b, field, 2)
	b = appendVarint(b, uint64(len(value)))
	return append(b, value...)
}

func appendStringField(b []byte, field int, value string) []byte {
	if value == "" {
		return b
	}
	return appendBytesField(b, field, []byte(value))
}

func appendIntField(b []byte, field int, value int64) []byte {
	if value == 0 {
		return b
	}
	b = appendTag(b, field, 0)
	return appendVarint(b, uint64(value))
}

func appendPackedInts(b []byte, field int, values []int64) []byte {
	if len(values) == 0 {
		return b
	}
	var packed []byte
	for _, v := range values {
		packed = appendVarint(packed, uint64(v))
	}
	return appendBytesField(b, field, packed)
}

// item wraps one action as a SyncStreamItem.
func item(action int, body []byte) []byte { return appendBytesField(nil, action, body) }

// field is one decoded field: a varint, or the bytes of a length-delimited value.
type field struct {
	number int
	varint uint64
	bytes  []byte
}

var errTruncated = errors.New("truncated protobuf")

// parse splits a message into its fields (wire types 0, 1, 2 and 5).
func parse(b []byte) ([]field, error) {
	var fields []field
	for len(b) > 0 {
		key, n := binary.Uvarint(b)
		if n <= 0 {
			return nil, errTruncated
		}
		b = b[n:]
		f := field{number: int(key >> 3)}
		switch key & 7 {
		case 0:
			v, n := binary.Uvarint(b)
			if n <= 0 {
				return nil, errTruncated
			}
			f.varint, b = v, b[n:]
		case 1:
			if len(b) < 8 {
				return nil, errTruncated
			}
			b = b[8:]
		case 2:
			l, n := binary.Uvarint(b)
			if n <= 0 || uint64(len(b)-n) < l {
				return nil, errTruncated
			}
			f.bytes, b = b[n:n+int(l)], b[n+int(l):]
		case 5:
			if len(b) < 4 {
				return nil, errTruncated
			}
			b = b[4:]
		default:
			return nil, fmt.Errorf("wire type %d", key&7)
		}
		fields = append(fields, f)
	}
	return fields, nil
}

// action is the one set field of a SyncStreamItem (the last one, as protobuf's oneof rule).
func action(itemBytes []byte) (int, []byte, error) {
	fields, err := parse(itemBytes)
	if err != nil {
		return 0, nil, err
	}
	if len(fields) == 0 {
		return 0, nil, errors.New("an item with no action")
	}
	last := fields[len(fields)-1]
	return last.number, last.bytes, nil
}

func first(fields []field, number int) (field, bool) {
	for _, f := range fields {
		if f.number == number {
			return f, true
		}
	}
	return field{}, false
}

func packedInts(fields []field, number int) ([]int64, error) {
	var values []int64
	for _, f := range fields {
		if f.number != number {
			continue
		}
		if f.bytes == nil {
			values = append(values, int64(f.varint))
			continue
		}
		b := f.bytes
		for len(b) > 0 {
			v, n := binary.Uvarint(b)
			if n <= 0 {
				return nil, errTruncated
			}
			values, b = append(values, int64(v)), b[n:]
		}
	}
	return values, nil
}

// operation encodes a v1.Operation as backrest writes one for a finished backup.
func operation(id, flow, modno int64, instance string, startMillis int64) []byte {
	return backupOperation(id, flow, modno, instance, startMillis, "daily", 3, fmt.Sprintf("backup %d", id),
		appendIntField(nil, 5, 1)) // operation_backup {dry_run = true}: a 1.13 field (5) the 1.11-1.12 schema lacks.
}

// variedOperation is a backup as a host running two plans reports them: "daily" (odd ids) and "hourly" (even
// ids), every fifth one failed (STATUS_ERROR with backrest's message), the others finished with a summary
// (data added, snapshot id).
func variedOperation(id, flow, modno int64, instance string, startMillis int64) []byte {
	plan := "daily"
	if id%2 == 0 {
		plan = "hourly"
	}
	if id%5 == 0 {
		return backupOperation(id, flow, modno, instance, startMillis, plan, 4, "backup failed: repository is already locked", nil)
	}
	var summary []byte
	summary = appendIntField(summary, 9, id*1_000_000)                                                 // data_added
	summary = appendStringField(summary, 13, fmt.Sprintf("%x", sha256.Sum256([]byte(fmt.Sprint(id))))) // snapshot_id
	lastStatus := appendBytesField(nil, 2, summary)                                                    // BackupProgressEntry.summary
	return backupOperation(id, flow, modno, instance, startMillis, plan, 3, fmt.Sprintf("backup %d", id),
		appendBytesField(nil, 3, lastStatus)) // OperationBackup.last_status
}

func backupOperation(id, flow, modno int64, instance string, startMillis int64, plan string, status int64, message string,
	backup []byte) []byte {
	var b []byte
	b = appendIntField(b, 1, id)
	b = appendStringField(b, 2, "repo1")
	b = appendStringField(b, 3, plan)
	b = appendIntField(b, 4, status)
	b = appendIntField(b, 5, startMillis)
	b = appendIntField(b, 6, startMillis+1500)
	b = appendStringField(b, 7, message)
	b = appendIntField(b, 10, flow)
	b = appendStringField(b, 11, instance)
	b = appendIntField(b, 12, modno)
	b = appendStringField(b, 15, "guid-repo1")
	b = appendBytesField(b, 100, backup)
	return b
}

// receivedOperations is receive_operations{event{updated_operations{operations}}}, as backrest answers
// request_operation_data.
func receivedOperations(operations [][]byte) []byte {
	var list []byte
	for _, op := range operations {
		list = appendBytesField(list, 1, op)
	}
	event := appendBytesField(nil, 3, list)
	return item(itemReceiveOperations, appendBytesField(nil, 1, event))
}
