package main

// One bidirectional call of /v1sync.BackrestSyncService/Sync over HTTP/2 without TLS (prior knowledge), as
// backrest 1.14 opens it for an http:// hub URL: Connect (application/connect+proto, what backrest's connect-go
// client speaks) or gRPC (application/grpc, what other clients of the same service speak). Both frame each message
// as [flags][4-byte big-endian length][bytes]; they differ in how the call ends.

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
)

const syncPath = "/v1sync.BackrestSyncService/Sync"

type stream struct {
	protocol string
	send     chan []byte
	body     *bufio.Reader
	response *http.Response
	writer   *io.PipeWriter
}

// callError is how the hub ended the call: a gRPC status or a Connect error, with the code's name as Connect
// spells it (permission_denied, invalid_argument, ...).
type callError struct {
	Code    string
	Message string
}

func (e *callError) Error() string { return e.Code + ": " + e.Message }

var grpcCodes = map[string]string{
	"1": "canceled", "2": "unknown", "3": "invalid_argument", "4": "deadline_exceeded", "5": "not_found",
	"6": "already_exists", "7": "permission_denied", "8": "resource_exhausted", "9": "failed_precondition",
	"10": "aborted", "11": "out_of_range", "12": "unimplemented", "13": "internal", "14": "unavailable",
	"15": "data_loss", "16": "unauthenticated",
}

// open starts the call: h2c with prior knowledge, or with caFile HTTP/2 over TLS negotiated by ALPN (what 1.14 does
// for an https:// hub URL).
func open(address, protocol, caFile string) (*stream, error) {
	var protocols http.Protocols
	transport := &http.Transport{Protocols: &protocols}
	scheme := "http://"
	if caFile == "" {
		protocols.SetUnencryptedHTTP2(true)
	} else {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, err
		}
		roots := x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s: no certificate", caFile)
		}
		protocols.SetHTTP2(true)
		transport.TLSClientConfig = &tls.Config{RootCAs: roots, NextProtos: []string{"h2"}}
		scheme = "https://"
	}
	client := &http.Client{Transport: transport}
	reader, writer := io.Pipe()
	request, err := http.NewRequest(http.MethodPost, scheme+address+syncPath, reader)
	if err != nil {
		return nil, err
	}
	switch protocol {
	case "grpc":
		request.Header.Set("Content-Type", "application/grpc")
		request.Header.Set("TE", "trailers")
	case "connect":
		request.Header.Set("Content-Type", "application/connect+proto")
	default:
		return nil, fmt.Errorf("protocol %q: grpc or connect", protocol)
	}
	s := &stream{protocol: protocol, send: make(chan []byte, 64), writer: writer}
	// The hub says nothing before the client's first message, so writes run beside the call's start.
	go func() {
		for message := range s.send {
			frame := make([]byte, 5, 5+len(message))
			binary.BigEndian.PutUint32(frame[1:], uint32(len(message)))
			if _, err := writer.Write(append(frame, message...)); err != nil {
				return
			}
		}
		writer.Close()
	}()
	response, err := client.Do(request)
	if err != nil {
		return nil, err
	}
	if response.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("HTTP %d", response.StatusCode)
	}
	if response.ProtoMajor != 2 {
		return nil, fmt.Errorf("the hub answered over %s, not HTTP/2", response.Proto)
	}
	s.response = response
	s.body = bufio.NewReaderSize(response.Body, 1<<20)
	return s, nil
}

// next reads the hub's next message; at the end of the call it returns nil and the hub's error, if any.
func (s *stream) next() ([]byte, error) {
	var header [5]byte
	if _, err := io.ReadFull(s.body, header[:]); err != nil {
		if err == io.EOF {
			return nil, s.trailerError()
		}
		return nil, err
	}
	message := make([]byte, binary.BigEndian.Uint32(header[1:]))
	if _, err := io.ReadFull(s.body, message); err != nil {
		return nil, err
	}
	if s.protocol == "connect" && header[0]&0x02 != 0 {
		var end struct {
			Error *callError `json:"error"`
		}
		if err := json.Unmarshal(message, &end); err != nil {
			return nil, fmt.Errorf("end of stream: %v", err)
		}
		if end.Error != nil {
			return nil, end.Error
		}
		return nil, io.EOF
	}
	return message, nil
}

func (s *stream) trailerError() error {
	if s.protocol == "connect" {
		return io.ErrUnexpectedEOF
	}
	status := s.response.Trailer.Get("Grpc-Status")
	if status == "" {
		status = s.response.Header.Get("Grpc-Status")
	}
	if status == "" || status == "0" {
		return io.EOF
	}
	message := s.response.Trailer.Get("Grpc-Message")
	if message == "" {
		message = s.response.Header.Get("Grpc-Message")
	}
	code, known := grpcCodes[status]
	if !known {
		code = "code " + status
	}
	return &callError{Code: code, Message: percentDecode(message)}
}

// percentDecode undoes grpc-message's percent-encoding.
func percentDecode(text string) string {
	if !strings.Contains(text, "%") {
		return text
	}
	var out []byte
	for i := 0; i < len(text); i++ {
		if text[i] == '%' && i+2 < len(text) {
			var b byte
			if _, err := fmt.Sscanf(text[i+1:i+3], "%02x", &b); err == nil {
				out = append(out, b)
				i += 2
				continue
			}
		}
		out = append(out, text[i])
	}
	return string(out)
}

func (s *stream) close() {
	close(s.send)
	s.response.Body.Close()
}
